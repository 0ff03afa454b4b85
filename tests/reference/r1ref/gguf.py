"""GGUF v3 reader (deepseek-architecture.md section 2.3): header, metadata of every value type,
tensor infos, alignment, data section; split sets `NAME-00001-of-0000N.gguf`.

Tensors come back as float64 NumPy arrays in row-major order, outermost dimension first, i.e.
with GGUF's `ne` (innermost first) reversed: a Linear weight with ne = [in, out] becomes
an array of shape [out, in].
"""
import mmap
import os
import re
import struct

import numpy as np

from .dequant import GGML_TYPES

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# value type id -> struct format of a scalar
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
T_STRING, T_ARRAY = 8, 9


class GGUFError(ValueError):
    pass


class _Cursor:
    def __init__(self, buf, path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"{self.path}: truncated at byte {self.pos} (need {n})")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.scalar("<Q")
        return bytes(self.take(n)).decode("utf-8", errors="surrogateescape")

    def value(self, vtype):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            etype = self.scalar("<I")
            count = self.scalar("<Q")
            if etype in _SCALARS and etype != 7:
                fmt = _SCALARS[etype]
                size = struct.calcsize(fmt)
                raw = self.take(size * count)
                return np.frombuffer(raw, dtype=np.dtype(fmt)).tolist()
            return [self.value(etype) for _ in range(count)]
        raise GGUFError(f"{self.path}: unknown value type {vtype} at byte {self.pos}")


class TensorInfo:
    def __init__(self, name, ne, ggml_type, offset, file):
        self.name, self.ne, self.ggml_type, self.offset, self.file = name, ne, ggml_type, offset, file

    @property
    def type_name(self):
        return GGML_TYPES[self.ggml_type][0] if self.ggml_type in GGML_TYPES else f"type{self.ggml_type}"

    @property
    def shape(self):
        """Row-major shape, outermost first (ne reversed)."""
        return tuple(reversed(self.ne))

    def nbytes(self):
        if self.ggml_type not in GGML_TYPES:
            raise GGUFError(f"tensor {self.name}: unsupported ggml type {self.ggml_type}")
        _, blk, bsz, _ = GGML_TYPES[self.ggml_type]
        if self.ne[0] % blk:
            raise GGUFError(f"tensor {self.name}: row of {self.ne[0]} not a multiple of {blk}")
        n = int(np.prod(self.ne, dtype=np.int64))
        return n // blk * bsz


class GGUFFile:
    """One GGUF file (not a split set): metadata dict, tensor infos, raw data views."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        buf = memoryview(self._map)
        c = _Cursor(buf, path)
        if bytes(c.take(4)) != MAGIC:
            raise GGUFError(f"{path}: not a GGUF file")
        self.version = c.scalar("<I")
        if self.version != 3:
            raise GGUFError(f"{path}: GGUF version {self.version}, only 3 is supported")
        n_tensors = c.scalar("<Q")
        n_kv = c.scalar("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = c.string()
            vtype = c.scalar("<I")
            self.metadata[key] = c.value(vtype)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GGUFError(f"{path}: alignment {self.alignment} is not a power of two")
        self.tensors = {}
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.scalar("<I")
            if n_dims > 4:
                raise GGUFError(f"{path}: tensor {name} has {n_dims} dims")
            ne = [c.scalar("<Q") for _ in range(n_dims)]
            gtype = c.scalar("<I")
            offset = c.scalar("<Q")
            if offset % self.alignment:
                raise GGUFError(f"{path}: tensor {name} offset {offset} not aligned")
            if name in self.tensors:
                raise GGUFError(f"{path}: duplicate tensor {name}")
            self.tensors[name] = TensorInfo(name, ne, gtype, offset, self)
        pad = (-c.pos) % self.alignment
        self.data_start = c.pos + pad
        for t in self.tensors.values():
            end = self.data_start + t.offset + t.nbytes()
            if end > len(buf):
                raise GGUFError(f"{path}: tensor {t.name} runs past the end of the file")
        self._buf = buf

    def raw(self, info):
        start = self.data_start + info.offset
        return np.frombuffer(self._buf[start:start + info.nbytes()], dtype=np.uint8)


_SPLIT = re.compile(r"^(.*)-(\d{5})-of-(\d{5})\.gguf$")


class GGUF:
    """A GGUF model: one file or a split set (pass any of its files)."""

    def __init__(self, path):
        m = _SPLIT.match(os.path.basename(path))
        paths = [path]
        if m:
            count = int(m.group(3))
            base = os.path.join(os.path.dirname(path), m.group(1))
            paths = [f"{base}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
        self.files = [GGUFFile(p) for p in paths]
        self.metadata = dict(self.files[0].metadata)
        self.tensors = {}
        for f in self.files:
            for name, info in f.tensors.items():
                if name in self.tensors:
                    raise GGUFError(f"tensor {name} appears in two split files")
                self.tensors[name] = info
        if m:
            want = self.metadata.get("split.tensors.count")
            if want is not None and want != len(self.tensors):
                raise GGUFError(f"split set holds {len(self.tensors)} tensors, header says {want}")

    def __contains__(self, name):
        return name in self.tensors

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def tensor(self, name):
        """float64 array, shape = reversed ne (outermost first)."""
        info = self.tensors[name]
        fn = GGML_TYPES[info.ggml_type][3]
        return fn(info.file.raw(info)).reshape(info.shape)

    def type_name(self, name):
        return self.tensors[name].type_name
