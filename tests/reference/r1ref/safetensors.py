"""safetensors reader (deepseek-architecture.md section 2.1): one file, or a folder with
model.safetensors.index.json (sharded) or a single *.safetensors, plus config.json.

FP8 weights (F8_E4M3) with a sibling `<name>_scale_inv` are dequantized with 128x128 block
scales (multiplied); the scale tensors themselves are hidden from the name list.
"""
import json
import mmap
import os
import struct

import numpy as np

from .dequant import ST_TYPES, apply_block_scales


class SafetensorsError(ValueError):
    pass


class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = memoryview(self._map)
        if len(buf) < 8:
            raise SafetensorsError(f"{path}: too short")
        (n,) = struct.unpack("<Q", buf[:8])
        if 8 + n > len(buf):
            raise SafetensorsError(f"{path}: header length {n} runs past the file")
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
        self.metadata = header.pop("__metadata__", {}) or {}
        self.entries = {}
        data_len = len(buf) - 8 - n
        for name, e in header.items():
            dtype, shape, (b, end) = e["dtype"], list(e["shape"]), e["data_offsets"]
            if dtype not in ST_TYPES:
                raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {dtype}")
            count = int(np.prod(shape, dtype=np.int64))
            if not (0 <= b <= end <= data_len) or end - b != count * ST_TYPES[dtype][0]:
                raise SafetensorsError(f"{path}: tensor {name}: bad data_offsets {b},{end}")
            self.entries[name] = (dtype, shape, 8 + n + b, 8 + n + end)
        self._buf = buf

    def tensor(self, name):
        dtype, shape, b, e = self.entries[name]
        raw = np.frombuffer(self._buf[b:e], dtype=np.uint8)
        return ST_TYPES[dtype][1](raw).reshape(shape)


class Checkpoint:
    """A safetensors model: a folder (config.json + shards) or one .safetensors file."""

    def __init__(self, path):
        if os.path.isdir(path):
            self.folder = path
            index = os.path.join(path, "model.safetensors.index.json")
            if os.path.exists(index):
                with open(index, encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
                files = sorted(set(weight_map.values()))
            else:
                files = sorted(x for x in os.listdir(path) if x.endswith(".safetensors"))
                if not files:
                    raise SafetensorsError(f"{path}: no .safetensors file")
                weight_map = None
            self.files = {fn: SafetensorsFile(os.path.join(path, fn)) for fn in files}
        else:
            self.folder = os.path.dirname(path) or "."
            fn = os.path.basename(path)
            self.files = {fn: SafetensorsFile(path)}
            weight_map = None
        self.where = {}
        for fn, f in self.files.items():
            for name in f.entries:
                if name in self.where:
                    raise SafetensorsError(f"tensor {name} appears in two shards")
                self.where[name] = f
        if weight_map is not None:
            for name, fn in weight_map.items():
                if name not in self.where or self.where[name] is not self.files[fn]:
                    raise SafetensorsError(f"index names {name} in {fn}, which lacks it")
        cfg = os.path.join(self.folder, "config.json")
        self.config = {}
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                self.config = json.load(f)
        qc = self.config.get("quantization_config") or {}
        self.block = tuple(qc.get("weight_block_size", (128, 128)))

    def __contains__(self, name):
        return name in self.where and not name.endswith("_scale_inv")

    def names(self):
        return [n for n in self.where if not n.endswith("_scale_inv")]

    def dtype(self, name):
        return self.where[name].entries[name][0]

    def tensor(self, name):
        w = self.where[name].tensor(name)
        if self.dtype(name) == "F8_E4M3":
            sname = name + "_scale_inv"
            if sname not in self.where:
                raise SafetensorsError(f"FP8 tensor {name} has no {sname}")
            w = apply_block_scales(w, self.where[sname].tensor(sname), self.block)
        return w
