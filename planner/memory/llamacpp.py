"""llama.cpp's placement of a model: which layers sit on the GPUs, what stays in host RAM, its compute buffers.

Sources (ggml-org/llama.cpp):
- ``src/llama-model.cpp`` ``load_tensors``: with ``-ngl N`` the last ``N`` blocks go to the GPUs
  (``i_gpu_start = max(n_layer - N, 0)``) and the output layer (``output_norm``, ``output``) too once
  ``N > n_layer``; the token embedding always stays in host memory (``dev_input`` is the CPU), which is why a
  fully offloaded model still logs a ``CPU_Mapped model buffer`` the size of ``token_embd``. A model without
  ``output.weight`` (tied embeddings) gets a GPU copy of ``token_embd`` as its output layer.
- ``src/llama-kv-cache.cpp``: one K and one V tensor per layer of ``n_ctx`` cells, on the device of its layer
  (``offload_kqv`` on by default), in ``--cache-type-k/v`` (f16, q8_0, q4_0).
- Several GPUs split the offloaded blocks by layer (``--split-mode layer``, the default), which the planner
  models as pipeline stages; llama.cpp has no tensor parallelism.
- ``src/llama-context.cpp`` reserves the compute graph for ``n_ubatch`` tokens; see ``compute_buffer_bytes``.
"""

from __future__ import annotations

ALL_LAYERS = 999
"""``-ngl 999``: every block and the output layer on the GPUs (llama.cpp clamps it to ``n_layer + 1``)."""


def offloaded_layers(num_layers: int, n_gpu_layers: int) -> range:
    """Blocks on the GPUs with ``-ngl n_gpu_layers``: the last ones (``i_gpu_start = n_layer - ngl``)."""
    return range(max(num_layers - max(n_gpu_layers, 0), 0), num_layers)


def output_on_gpu(num_layers: int, n_gpu_layers: int) -> bool:
    """The output layer (final norm and LM head) is offloaded once ``-ngl`` exceeds the blocks."""
    return n_gpu_layers > num_layers


def compute_buffer_bytes(num_tokens: int, hidden_size: int, intermediate_size: int, vocab_size: int, holds_output: bool,
                         num_heads: int = 0, context_cells: int = 0, flash_attention: bool = True) -> int:
    """The GPU compute buffer llama.cpp reserves for a graph of ``num_tokens`` (``n_ubatch``) tokens.

    ggml's graph allocator reuses memory, so the buffer is the largest set of f32 tensors alive at once: the
    logits ``n_ubatch x n_vocab`` at the output (on the GPU holding the output layer), the FFN's gate and up
    projections and their product ``3 x n_ubatch x n_ff`` in a block, and without flash attention the
    ``n_ubatch x n_ctx x n_head`` attention scores; each next to the residual stream (``n_ubatch x n_embd``).
    All f32 (4 bytes). Case llamacpp-qwen25-3b-4080s: 296.75 MiB of logits + 4 MiB of residual = the logged
    300.75 MiB.
    """
    residual = num_tokens * hidden_size
    ffn = 3 * num_tokens * intermediate_size
    scores = 0 if flash_attention else num_tokens * context_cells * num_heads
    logits = num_tokens * vocab_size if holds_output else 0
    return 4 * (residual + max(ffn, scores, logits))
