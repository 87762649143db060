"""Model reading: architectures from catalog entries, Hugging Face ``config.json`` files (text and vision) and
``.gguf`` headers; checkpoint quantization; weight formats and KV-cache dtypes."""
