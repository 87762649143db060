"""How each serving engine sizes its KV cache: the budget rule, its non-torch memory, and what it keeps outside.

Every engine ends with ``KV cache = budget - what it charges``; they differ in the budget and in what is charged:

- **vLLM** (V0 ``Worker.determine_num_available_blocks``, V1 ``gpu_worker.determine_available_memory``):
  ``budget = capacity x gpu_memory_utilization``; charged: weights, the profiled activation peak and the
  non-torch increase (NCCL, custom all-reduce, cuBLAS). The CUDA context and CUDA graphs live in the rest.
- **SGLang** (``ModelRunner.profile_max_num_token``): ``rest = free_after_weights - free_before_weights x (1 -
  mem_fraction_static)``, i.e. ``KV = free_before x mem_fraction_static - weights``; ``free_before`` is the
  memory left once the CUDA context and NCCL are up. Activations and CUDA graphs live in the reserved
  ``1 - mem_fraction_static``, so they are reported but not charged.
- **TensorRT-LLM** (``KVCacheManager::calculateMaxNumBlocks``; PyTorch backend ``KvCacheCreator``):
  ``KV = free_gpu_memory_fraction x (capacity - weights - activations - runtime and NCCL memory)``.
- **llama.cpp** has no fraction: the offloaded layers' weights, the KV cells of ``n_ctx`` and the compute
  buffers are allocated outright; the card's capacity is the limit.
"""

from __future__ import annotations

from ..units import BYTES_PER_GIB, fraction_of_bytes_floor

NON_TORCH_BYTES_SINGLE_GPU = int(0.25 * BYTES_PER_GIB)
"""vLLM's non-torch increase on one GPU (cuBLAS workspaces, allocator slack). Logged: 0.10-0.35 GiB (cases
vllm-10517-a 0.35, vllm-12330 0.10, vllm-phi4-gptq 0.26; mean 0.24)."""

NON_TORCH_BYTES_PER_COLLECTIVE_GROUP = int(0.25 * BYTES_PER_GIB)
"""Extra non-torch memory with TP/PP > 1 over PCIe: NCCL communicator buffers (SGLang case sglang-qwq32b-l4: 4 x L4,
0.72 GiB of context and NCCL before loading)."""

COLLECTIVE_BYTES_PER_NVLINK_PEER = int(0.25 * BYTES_PER_GIB)
"""Per tensor-parallel GPU with NVLink / NVSwitch / xGMI: NCCL's P2P and NVLS buffers and the custom all-reduce
IPC buffers grow with the group (vLLM logs about 2.1 GiB of non-torch memory at TP = 8; SGLang case
sglang-init-h200-tp8 logs 3.11 GiB in use before loading at TP = 8 on H200, context included)."""

CUDA_CONTEXT_BYTES = int(0.5 * BYTES_PER_GIB)
"""CUDA context with PyTorch's kernels loaded lazily, counted by engines that measure free memory after it
exists (SGLang, TensorRT-LLM, llama.cpp). SGLang case sglang-qwq32b-l4: 22.49 GiB total, 21.63 GiB free
before loading at TP = 4, i.e. 0.86 GiB of context and NCCL."""

WEIGHT_LOADING_SLACK = {"sglang": 0.016}
"""Memory SGLang's ``Load weight end ... mem usage`` counts beyond the tensors: blocks of the caching allocator
that the loader's temporaries leave split (``empty_cache`` returns only whole free segments). Calibrated on
case sglang-qwq32b-l4 (15.54 GiB logged, 15.29 GiB of tensors); vLLM logs the tensors alone."""

ACTIVATIONS_IN_BUDGET = {"vllm": True, "sglang": False, "trtllm": True, "llamacpp": True}
"""Whether the engine charges its activation peak to the KV budget (SGLang keeps it in its reserve)."""


def collective_bytes(gpus_per_replica: int, tp: int, scale_up_link: str) -> int:
    """NCCL and custom all-reduce buffers per GPU: a flat amount over PCIe, growing with TP over NVLink."""
    if gpus_per_replica <= 1:
        return 0
    if scale_up_link in ("nvswitch", "nvlink-bridge", "xgmi") and tp > 1:
        return COLLECTIVE_BYTES_PER_NVLINK_PEER * tp
    return NON_TORCH_BYTES_PER_COLLECTIVE_GROUP


def non_torch_bytes(engine: str, gpus_per_replica: int, tp: int = 1, scale_up_link: str = "none") -> int:
    """Memory outside the PyTorch allocator that the engine charges before sizing the KV cache."""
    collective = collective_bytes(gpus_per_replica, tp, scale_up_link)
    if engine == "vllm":
        return NON_TORCH_BYTES_SINGLE_GPU + collective
    if engine == "llamacpp":
        return CUDA_CONTEXT_BYTES
    return CUDA_CONTEXT_BYTES + collective + (0 if engine == "sglang" else NON_TORCH_BYTES_SINGLE_GPU)


def budget_bytes(engine: str, capacity_bytes: int, charged_bytes: int, overhead_bytes: int, gpu_memory_utilization: float,
                 mem_fraction_static: float, free_gpu_memory_fraction: float) -> int:
    """What one GPU may hold under the engine's rule (``usable``): KV budget = usable - charged.

    ``charged_bytes`` is what the engine charges (weights, activations in budget, overhead), ``overhead_bytes``
    the part of it the engine finds already allocated when it measures free memory.
    """
    if engine == "sglang":
        return overhead_bytes + fraction_of_bytes_floor(capacity_bytes - overhead_bytes, mem_fraction_static)
    if engine == "trtllm":
        return charged_bytes + fraction_of_bytes_floor(max(0, capacity_bytes - charged_bytes), free_gpu_memory_fraction)
    if engine == "llamacpp":
        return capacity_bytes
    return fraction_of_bytes_floor(capacity_bytes, gpu_memory_utilization)


def budget_formula(engine: str) -> str:
    """The budget rule in words, for ``--explain``."""
    return {
        "vllm": "capacity x gpu_memory_utilization",
        "sglang": "overhead + (capacity - overhead) x mem_fraction_static (free memory before loading x fraction)",
        "trtllm": "charged + free_gpu_memory_fraction x (capacity - weights - activations - overhead)",
        "llamacpp": "capacity (llama.cpp allocates what it needs, no fraction)",
    }[engine]

