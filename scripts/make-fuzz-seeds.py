"""Writes seed inputs for the GGUF fuzzer: a small valid file with every value type and a
few tensors, and broken variants of it (truncated at each section boundary, lying counts).

usage: make-fuzz-seeds.py OUT_DIR
"""
import struct
import sys
from pathlib import Path


def s(text: str) -> bytes:
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    return s(key) + struct.pack("<I", vtype) + payload


def valid(version: int = 3):
    boundaries = []
    out = b"GGUF" + struct.pack("<IQQ", version, 2, 6)
    boundaries.append(len(out))
    entries = [
        kv("general.architecture", 8, s("llama")),
        kv("llama.block_count", 4, struct.pack("<I", 1)),
        kv("f", 6, struct.pack("<f", 0.5)),
        kv("tokens", 9, struct.pack("<IQ", 8, 3) + s("a") + s("b") + s("<0x0A>")),
        kv("nested", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, -1)),
        kv("general.alignment", 4, struct.pack("<I", 32)),
    ]
    for e in entries:
        out += e
        boundaries.append(len(out))
    out += s("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 2) + struct.pack("<IQ", 8, 0)
    boundaries.append(len(out))
    out += s("norm.weight") + struct.pack("<I", 1) + struct.pack("<Q", 32) + struct.pack("<IQ", 0, 96)
    boundaries.append(len(out))
    out += b"\0" * (-len(out) % 32)
    boundaries.append(len(out))
    out += bytes(range(68)) + b"\0" * 28 + b"\x01" * 128
    return out, boundaries


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    data, boundaries = valid()
    (out_dir / "valid-v3.gguf").write_bytes(data)
    (out_dir / "valid-v2.gguf").write_bytes(valid(2)[0])
    for i, b in enumerate(boundaries):
        (out_dir / f"truncated-{i}.gguf").write_bytes(data[:b])
    lying_keys = bytearray(data)
    lying_keys[16:24] = struct.pack("<Q", 1 << 40)
    (out_dir / "lying-key-count.gguf").write_bytes(bytes(lying_keys))
    lying_tensors = bytearray(data)
    lying_tensors[8:16] = struct.pack("<Q", 1 << 40)
    (out_dir / "lying-tensor-count.gguf").write_bytes(bytes(lying_tensors))


if __name__ == "__main__":
    main()
