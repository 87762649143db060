"""What a measured training peak holds beyond the formulas: the CUDA context, NCCL buffers, the allocator's reserve.

``nvidia-smi`` shows a process's whole footprint; ``torch.cuda.max_memory_reserved`` what PyTorch's caching
allocator holds; ``torch.cuda.max_memory_allocated`` the tensors alone, which is what the formulas of the ZeRO paper
and Korthikanti et al. count. The terms between them:

- **CUDA context and libraries**: the driver's context with the kernels it loads (lazily since CUDA 11.7: 287 MB
  for a first tensor against 667 MB eagerly, PyTorch PR #86509; "around 400MB", pytorch/pytorch#109888), plus
  cuBLAS/cuBLASLt workspaces and the kernels of attention, NCCL and compiled graphs a training step loads. Larger
  on newer generations: about 1.3 GiB measured on Hopper (case megatron-gpt2xl-h100).
- **NCCL buffers** once a GPU talks to others (``engine_budgets.collective_bytes``: grows with the peers over
  NVLink, flat over PCIe).
- **Allocator reserve**: blocks the caching allocator keeps cached or split (fragmentation) at the peak, a
  fraction of what is allocated: 8.6 % fitted on case megatron-gpt2xl-h100 (logs of other runs show 6.6 %
  (NeMo Qwen3-30B-A3B) to 13 % (Megatron-LM PR #5662) of the allocated peak).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from ..units import BYTES_PER_GIB
from .engine_budgets import collective_bytes

CUDA_CONTEXT_BYTES = {
    "volta": int(0.6 * BYTES_PER_GIB),
    "turing": int(0.6 * BYTES_PER_GIB),
    "ampere": int(0.9 * BYTES_PER_GIB),
    "ada": int(0.9 * BYTES_PER_GIB),
    "hopper": int(1.3 * BYTES_PER_GIB),
    "blackwell": int(1.3 * BYTES_PER_GIB),
    "cdna": int(0.9 * BYTES_PER_GIB),
}
"""CUDA (HIP) context, libraries and workspaces of a training process, per GPU generation."""

ALLOCATOR_RESERVE_FRACTION = Fraction(86, 1000)
"""Reserved-but-not-allocated memory at the peak, as a fraction of the allocated peak (module docstring)."""

_GENERATIONS = (("v100", "volta"), ("t4", "turing"), ("rtx-20", "turing"), ("a100", "ampere"), ("a10", "ampere"),
                ("a40", "ampere"), ("a30", "ampere"), ("rtx-30", "ampere"), ("rtx-a", "ampere"), ("l4", "ada"),
                ("l40", "ada"), ("rtx-40", "ada"), ("rtx-6000-ada", "ada"), ("h100", "hopper"), ("h200", "hopper"),
                ("h20", "hopper"), ("gh200", "hopper"), ("b200", "blackwell"), ("b300", "blackwell"),
                ("gb200", "blackwell"), ("gb300", "blackwell"), ("rtx-50", "blackwell"), ("mi", "cdna"))

_LONGEST_PREFIX_FIRST = sorted(_GENERATIONS, key=lambda pair: -len(pair[0]))


def gpu_generation(gpu_id: str, release_year: int | None = None) -> str:
    """The architecture generation of a catalog GPU id (``rtx-6000-ada`` -> ada), else by release year."""
    name = gpu_id.lower()
    for prefix, generation in _LONGEST_PREFIX_FIRST:
        if name.startswith(prefix):
            return generation
    if release_year is None:
        return "hopper"
    return "volta" if release_year < 2019 else "ampere" if release_year < 2022 else "hopper"


@dataclass(frozen=True)
class TrainingGpu:
    """What the measured-peak terms need to know of the GPU: its generation and its links to its peers."""

    generation: str = "hopper"
    scale_up_link: str = "nvswitch"
    nvlink_domain_size: int = 8

    @property
    def cuda_context_bytes(self) -> int:
        return CUDA_CONTEXT_BYTES.get(self.generation, CUDA_CONTEXT_BYTES["hopper"])

    def nvlink_peers(self, gpus: int) -> int:
        """The GPUs of a ``gpus``-GPU job one GPU reaches over its scale-up domain."""
        return min(gpus, self.nvlink_domain_size)

    def nccl_bytes(self, gpus: int) -> int:
        """NCCL buffers of one GPU of a ``gpus``-GPU job (``engine_budgets.collective_bytes``)."""
        return collective_bytes(gpus, self.nvlink_peers(gpus), self.scale_up_link)


@lru_cache(maxsize=256)
def training_gpu(gpu_id: str, release_year: int | None = None, scale_up_link: str | None = None,
                 nvlink_domain_size: int = 1) -> TrainingGpu:
    """The measured-peak facts of a catalog GPU (its id, release year and links)."""
    return TrainingGpu(gpu_generation(gpu_id, release_year), scale_up_link or "none", nvlink_domain_size)
