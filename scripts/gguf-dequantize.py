"""Dequantizes raw ggml blocks with the numpy dequantizer of the `gguf` package (the reference
the runtime's tests compare against).

usage: gguf-dequantize.py TYPE_NUMBER IN_FILE OUT_FILE    (OUT gets little-endian float32)
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

qtype = GGMLQuantizationType(int(sys.argv[1]))
raw = np.fromfile(sys.argv[2], dtype=np.uint8)
values = dequantize(raw, qtype).astype("<f4")
values.tofile(sys.argv[3])
