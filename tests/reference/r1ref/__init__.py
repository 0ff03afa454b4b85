"""r1ref: an independent float64 NumPy reference of the DeepSeek-V3/R1, DeepSeek-V2(-Lite),
Qwen2 and Llama forward passes, reading GGUF and safetensors files itself.

Written from the published formulas (docs/REFERENCE.md, deepseek-architecture.md); it shares
no code with the C++ engine. Standard library + NumPy only.
"""

from .loader import load_model  # noqa: F401
from .model import Model  # noqa: F401
