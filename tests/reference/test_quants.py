#!/usr/bin/env python3
"""Independent float64 NumPy reference for r1's dequantization.

Builds a GGUF v3 file and a safetensors file here (struct + numpy only), filled with random
bytes for every block type (fp16 scale fields forced to finite values), every f16 and bf16
code, random FP8 E4M3 weights with 128x128 block scales (partial edge blocks included), then
runs `r1 dump-tensor` on each tensor and compares the .npy it writes with a dequantization
written here from the format definitions (docs: deepseek-architecture.md sections 2.2, 2.3, 2.6).

Plain and FP8 types must match exactly (the float32 rounding of the exact value); block
types must match within 1e-6 relative to the size of the terms of their formula (r1 computes
in float32). Exits non-zero on any mismatch.

Usage: test_quants.py --r1 PATH_TO_R1 [--keep DIR] [--seed N]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

QK_K = 256

# ggml type ids and block geometry (elements per block, bytes per block).
GGML = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34),
    "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "I32": (26, 1, 4), "F64": (28, 1, 8),
    "BF16": (30, 1, 2),
}


# ------------------------------------------------------------------ scalar formats (float64)

def f16_value(bits):
    """IEEE binary16 from its bits: sign, 5-bit exponent (bias 15), 10-bit mantissa."""
    bits = np.asarray(bits, dtype=np.int64)
    sign = np.where(bits & 0x8000, -1.0, 1.0)
    exp = (bits >> 10) & 0x1F
    man = (bits & 0x3FF).astype(np.float64)
    with np.errstate(invalid="ignore"):
        normal = np.ldexp(1024.0 + man, (exp - 25).astype(np.int32))
        sub = np.ldexp(man, -24)
        special = np.where(man == 0, np.inf, np.nan)
        v = np.where(exp == 0, sub, np.where(exp == 31, special, normal))
    return sign * v


def bf16_value(bits):
    """bfloat16: sign, 8-bit exponent (bias 127), 7-bit mantissa."""
    bits = np.asarray(bits, dtype=np.int64)
    sign = np.where(bits & 0x8000, -1.0, 1.0)
    exp = (bits >> 7) & 0xFF
    man = (bits & 0x7F).astype(np.float64)
    with np.errstate(invalid="ignore"):
        normal = np.ldexp(128.0 + man, (exp - 134).astype(np.int32))
        sub = np.ldexp(man, -133)
        special = np.where(man == 0, np.inf, np.nan)
        v = np.where(exp == 0, sub, np.where(exp == 255, special, normal))
    return sign * v


def e4m3_value(codes):
    """FP8 E4M3FN: sign, 4-bit exponent (bias 7), 3-bit mantissa; no Inf; S.1111.111 is NaN."""
    c = np.asarray(codes, dtype=np.int64)
    sign = np.where(c & 0x80, -1.0, 1.0)
    exp = (c >> 3) & 0xF
    man = (c & 7).astype(np.float64)
    normal = np.ldexp(1.0 + man / 8.0, (exp - 7).astype(np.int32))
    sub = np.ldexp(man / 8.0, -6)
    v = np.where(exp == 0, sub, normal)
    v = np.where((exp == 15) & (man == 7), np.nan, v)
    return sign * v


def u16(b, off):
    """Little-endian u16 at byte `off` of every block row of b (shape [nb, block_bytes])."""
    return b[:, off].astype(np.int64) | (b[:, off + 1].astype(np.int64) << 8)


# ------------------------------------------------------------------ block formats (float64)
# Each returns (values, magnitude): magnitude bounds the size of the terms summed, which is what
# float32 rounding errors scale with.

def deq_q8_0(b):
    d = f16_value(u16(b, 0))[:, None]
    qs = b[:, 2:34].view(np.int8).astype(np.float64)
    y = d * qs
    return y, np.abs(y)


def deq_q4_0(b):
    d = f16_value(u16(b, 0))[:, None]
    qs = b[:, 2:18].astype(np.int64)
    codes = np.concatenate([(qs & 0xF) - 8, (qs >> 4) - 8], axis=1)  # y[j], y[j + 16]
    y = d * codes
    return y, np.abs(y)


E = np.arange(QK_K)


def deq_q2_k(b):
    # scales[16] @0, qs[64] @16, d @80, dmin @82.
    # y[128n + 32j + 16g + l] = d*(sc & 15)*((qs[32n + 16g + l] >> 2j) & 3) - dmin*(sc >> 4),
    # sc = scales[8n + 2j + g] = scales[e // 16].
    d = f16_value(u16(b, 80))[:, None]
    dmin = f16_value(u16(b, 82))[:, None]
    n, j, g, l = E // 128, (E % 128) // 32, (E % 32) // 16, E % 16
    q = b[:, 16:80].astype(np.int64)
    code = (q[:, 32 * n + 16 * g + l] >> (2 * j)) & 3
    sc = b[:, 0:16].astype(np.int64)[:, E // 16]
    t1 = d * (sc & 0xF) * code
    t2 = dmin * (sc >> 4)
    return t1 - t2, np.abs(t1) + np.abs(t2)


def deq_q3_k(b):
    # hmask[32] @0, qs[64] @32, scales[12] @96, d @108.
    d = f16_value(u16(b, 108))[:, None]
    s = b[:, 96:108].astype(np.int64)
    k = np.arange(16)
    low = np.where(k < 8, s[:, np.minimum(k, 7)] & 0xF, s[:, np.maximum(k - 8, 0)] >> 4)
    high = (s[:, 8 + k % 4] >> (2 * (k // 4))) & 3
    scale = (low | (high << 4)) - 32  # [nb, 16]
    n, j, idx = E // 128, (E % 128) // 32, E % 32
    q = b[:, 32:96].astype(np.int64)
    hm = b[:, 0:32].astype(np.int64)
    low2 = (q[:, 32 * n + idx] >> (2 * j)) & 3
    hbit = (hm[:, idx] >> (4 * n + j)) & 1
    v = low2 - np.where(hbit == 1, 0, 4)
    y = d * scale[:, E // 16] * v
    return y, np.abs(y)


def k4_scale_min(s):
    """6-bit scales and mins of the 8 sub-blocks of a Q4_K/Q5_K block (s: [nb, 12])."""
    s = s.astype(np.int64)
    sc = np.zeros((s.shape[0], 8), dtype=np.int64)
    m = np.zeros_like(sc)
    for k in range(8):
        if k < 4:
            sc[:, k] = s[:, k] & 63
            m[:, k] = s[:, k + 4] & 63
        else:
            sc[:, k] = (s[:, k + 4] & 0xF) | ((s[:, k - 4] >> 6) << 4)
            m[:, k] = (s[:, k + 4] >> 4) | ((s[:, k] >> 6) << 4)
    return sc, m


def deq_q45_k(b, five):
    # d @0, dmin @2, scales[12] @4, [qh[32] @16 for Q5_K], qs[128] after.
    d = f16_value(u16(b, 0))[:, None]
    dmin = f16_value(u16(b, 2))[:, None]
    sc, m = k4_scale_min(b[:, 4:16])
    qs_off = 48 if five else 16
    q = b[:, qs_off:qs_off + 128].astype(np.int64)
    c, half, l = E // 64, (E % 64) // 32, E % 32
    k = 2 * c + half
    code = (q[:, 32 * c + l] >> (4 * half)) & 0xF
    if five:
        qh = b[:, 16:48].astype(np.int64)
        code = code + 16 * ((qh[:, l] >> k) & 1)
    t1 = d * sc[:, k] * code
    t2 = dmin * m[:, k]
    return t1 - t2, np.abs(t1) + np.abs(t2)


def deq_q6_k(b):
    # ql[128] @0, qh[64] @128, scales[16] int8 @192, d @208.
    d = f16_value(u16(b, 208))[:, None]
    ql = b[:, 0:128].astype(np.int64)
    qh = b[:, 128:192].astype(np.int64)
    sc = b[:, 192:208].view(np.int8).astype(np.int64)
    n, qq, l = E // 128, (E % 128) // 32, E % 32
    low = (ql[:, 64 * n + l + 32 * (qq % 2)] >> (4 * (qq // 2))) & 0xF
    high = (qh[:, 32 * n + l] >> (2 * qq)) & 3
    v = (low | (high << 4)) - 32
    y = d * sc[:, E // 16] * v
    return y, np.abs(y)


BLOCK_DEQ = {
    "Q8_0": deq_q8_0, "Q4_0": deq_q4_0, "Q2_K": deq_q2_k, "Q3_K": deq_q3_k,
    "Q4_K": lambda b: deq_q45_k(b, False), "Q5_K": lambda b: deq_q45_k(b, True),
    "Q6_K": deq_q6_k,
}

# Byte offsets of the fp16 scale fields inside each block type.
F16_FIELDS = {"Q8_0": [0], "Q4_0": [0], "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2],
              "Q5_K": [0, 2], "Q6_K": [208]}


def random_finite_f16(rng, n):
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.int64)
    inf_nan = ((bits >> 10) & 0x1F) == 0x1F
    bits[inf_nan] &= ~0x4000  # exponent 31 -> 15
    return bits


def random_blocks(rng, qtype, nblocks):
    _, _, bb = GGML[qtype]
    b = rng.integers(0, 256, size=(nblocks, bb), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        h = random_finite_f16(rng, nblocks)
        b[:, off] = h & 0xFF
        b[:, off + 1] = h >> 8
    return b


# ------------------------------------------------------------------ file writers

def gguf_str(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s


def write_gguf(path, tensors, alignment=32):
    """tensors: list of (name, type name, ne list (ggml order), raw bytes)."""
    kvs = [("general.architecture", 8, gguf_str("quant-test")),
           ("general.alignment", 4, struct.pack("<I", alignment)),
           ("general.name", 8, gguf_str("r1 dequantization reference"))]
    out = bytearray(struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(kvs)))
    for key, vtype, val in kvs:
        out += gguf_str(key) + struct.pack("<I", vtype) + val
    offset = 0
    offsets = []
    for name, tname, ne, data in tensors:
        offsets.append(offset)
        out += gguf_str(name) + struct.pack("<I", len(ne))
        out += struct.pack("<%dQ" % len(ne), *ne)
        out += struct.pack("<IQ", GGML[tname][0], offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for (name, tname, ne, data), off in zip(tensors, offsets):
        out += data
        out += b"\0" * (-len(data) % alignment)
    with open(path, "wb") as f:
        f.write(out)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, shape, raw bytes)."""
    header = {"__metadata__": {"format": "pt"}}
    pos = 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [pos, pos + len(data)]}
        pos += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, _, _, data in tensors:
            f.write(data)


# ------------------------------------------------------------------ comparison

class Checker:
    def __init__(self, r1, workdir):
        self.r1 = r1
        self.workdir = workdir
        self.failures = 0
        self.count = 0

    def dump(self, path, name):
        out = os.path.join(self.workdir, "out_%d.npy" % self.count)
        self.count += 1
        p = subprocess.run([self.r1, "dump-tensor", path, name, "-o", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return None, "r1 exited %d: %s" % (p.returncode, p.stderr.strip())
        return np.load(out), None

    def fail(self, label, msg):
        self.failures += 1
        print("FAIL  %-30s %s" % (label, msg), flush=True)

    def check(self, path, name, label, want, shape, magnitude=None):
        """want: float64 reference; magnitude None -> exact float32 match required."""
        got, err = self.dump(path, name)
        if got is None:
            return self.fail(label, err)
        if got.dtype != np.float32 or tuple(got.shape) != tuple(shape):
            return self.fail(label, "got %s %s, want float32 %s" % (got.dtype, got.shape,
                                                                     tuple(shape)))
        with np.errstate(invalid="ignore"):
            got = got.astype(np.float64).reshape(-1)
            want = np.asarray(want, dtype=np.float64).reshape(-1)
        nan_w, nan_g = np.isnan(want), np.isnan(got)
        if not np.array_equal(nan_w, nan_g):
            i = int(np.argmax(nan_w != nan_g))
            return self.fail(label, "NaN mismatch at %d: got %r want %r" % (i, got[i], want[i]))
        ok = ~nan_w
        g, w = got[ok], want[ok]
        with np.errstate(over="ignore"):
            w32 = w.astype(np.float32).astype(np.float64)  # the exact value rounded to float32
        exact = int(np.sum(g == w32))
        if magnitude is None:
            bad = g != w32
            worst = "exact"
        else:
            m = np.asarray(magnitude, dtype=np.float64).reshape(-1)[ok]
            tol = 1e-6 * m
            diff = np.abs(g - w)
            bad = ~(diff <= tol)
            rel = diff[m > 0] / m[m > 0]
            worst = "max err %.2e of term size" % (rel.max() if rel.size else 0.0)
        if bad.any():
            i = int(np.argmax(bad))
            return self.fail(label, "%d of %d differ; first at %d: got %r want %r" %
                             (int(bad.sum()), bad.size, i, g[i], w[i]))
        print("ok    %-30s %-9s %7d values, %7d exactly equal, %4d NaN, %s" %
              (label, "x".join(map(str, shape)), want.size, exact, int(nan_w.sum()), worst),
              flush=True)

    def expect_error(self, path, name, label, needle):
        got, err = self.dump(path, name)
        if got is not None:
            return self.fail(label, "r1 succeeded where it should fail")
        if needle not in err:
            return self.fail(label, "unexpected message: %s" % err)
        print("ok    %-30s rejected: %s" % (label, err.split("\n")[0][:120]), flush=True)


def self_check():
    """The float64 decoders above agree with NumPy's own float16 where it applies."""
    codes = np.arange(1 << 16, dtype=np.uint16)
    a = f16_value(codes)
    b = codes.view(np.float16).astype(np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)])
    with np.errstate(invalid="ignore"):
        bf = (codes.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    c = bf16_value(codes)
    assert np.array_equal(np.isnan(c), np.isnan(bf)) and np.array_equal(c[~np.isnan(c)],
                                                                         bf[~np.isnan(bf)])
    v = e4m3_value(np.arange(256))
    assert v[0x7E] == 448.0 and v[0x38] == 1.0 and v[0x01] == 2.0 ** -9 and np.isnan(v[0x7F])
    assert np.isnan(v).sum() == 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--r1", required=True, help="path of the r1 program")
    ap.add_argument("--keep", help="write the files into this folder and keep them")
    ap.add_argument("--seed", type=int, default=20250101)
    args = ap.parse_args()
    self_check()
    rng = np.random.default_rng(args.seed)

    tmp = None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="r1-quants-")
        work = tmp.name
    chk = Checker(os.path.abspath(args.r1), work)

    # ---------------------------------------------------------------- GGUF
    gguf_tensors = []  # (name, type, ne, bytes)
    expected = {}      # name -> (want, magnitude or None, shape)

    def add_plain(name, tname, ne, raw, want):
        gguf_tensors.append((name, tname, ne, raw.tobytes()))
        expected[name] = (want, None, tuple(reversed(ne)))

    codes = np.arange(1 << 16, dtype=np.uint16)
    add_plain("all.f16", "F16", [256, 256], codes, f16_value(codes))
    add_plain("all.bf16", "BF16", [256, 256], codes, bf16_value(codes))
    f32_bits = rng.integers(0, 1 << 32, size=16 * 3, dtype=np.uint64).astype(np.uint32)
    add_plain("rand.f32", "F32", [16, 3], f32_bits, f32_bits.view(np.float32))
    f64_bits = rng.integers(0, 1 << 63, size=40, dtype=np.uint64) | \
        (rng.integers(0, 2, size=40, dtype=np.uint64) << np.uint64(63))
    f64 = f64_bits.view(np.float64).copy()
    f64[:6] = [1e300, -1e-300, 3.4028235677973366e38, 0.1, -0.0, 2.0 ** -149 * 0.75]
    add_plain("rand.f64", "F64", [10, 4], f64, f64)

    layouts = {  # type -> ne (ggml order, ne[0] the row)
        "Q8_0": [[64, 40], [32 * 5]],
        "Q4_0": [[96, 20]],
        "Q2_K": [[512, 24]],
        "Q3_K": [[256, 40]],
        "Q4_K": [[512, 6, 4]],
        "Q5_K": [[256, 40]],
        "Q6_K": [[768, 16]],
    }
    for tname, nes in layouts.items():
        for i, ne in enumerate(nes):
            n = int(np.prod(ne))
            nb = n // GGML[tname][1]
            b = random_blocks(rng, tname, nb)
            y, mag = BLOCK_DEQ[tname](b)
            name = "blk.%s.%d" % (tname.lower(), i)
            gguf_tensors.append((name, tname, ne, b.tobytes()))
            expected[name] = (y, mag, tuple(reversed(ne)))
    gguf_tensors.append(("ids.i32", "I32", [4], np.arange(4, dtype=np.int32).tobytes()))

    gguf_path = os.path.join(work, "quants.gguf")
    write_gguf(gguf_path, gguf_tensors)
    print("== %s: %d tensors" % (gguf_path, len(gguf_tensors)))
    for name, tname, ne, _ in gguf_tensors:
        if name not in expected:
            continue
        want, mag, shape = expected[name]
        chk.check(gguf_path, name, "%s %s" % (tname, name), want, shape, mag)
    chk.expect_error(gguf_path, "ids.i32", "I32 ids.i32", "I32")
    chk.expect_error(gguf_path, "no.such.tensor", "missing tensor", "no.such.tensor")

    # ---------------------------------------------------------------- safetensors
    st = []  # (name, dtype, shape, bytes)
    st_expected = {}

    def add_fp8(name, rows, cols):
        q = rng.integers(0, 256, size=(rows, cols), dtype=np.uint8)
        srows, scols = -(-rows // 128), -(-cols // 128)
        s = (10.0 ** rng.uniform(-6, 2, size=(srows, scols))).astype(np.float32)
        s[0, 0] = 1.0
        st.append((name, "F8_E4M3", [rows, cols], q.tobytes()))
        st.append((name + "_scale_inv", "F32", [srows, scols], s.tobytes()))
        # W[i][j] = fp8(W_q[i][j]) * S[i // 128][j // 128]
        scale = s.astype(np.float64)[np.arange(rows)[:, None] // 128, np.arange(cols)[None] // 128]
        st_expected[name] = (e4m3_value(q) * scale, (rows, cols))

    add_fp8("kv_a_proj_with_mqa.weight", 576, 300)  # [5, 3] scales, last block row 64 rows
    add_fp8("edge.weight", 130, 129)  # partial blocks in both dimensions
    add_fp8("small.weight", 7, 5)     # a single partial block
    allfp8 = np.arange(256, dtype=np.uint8)
    st.append(("all.fp8", "F8_E4M3", [256], allfp8.tobytes()))
    st_expected["all.fp8"] = (e4m3_value(allfp8), (256,))
    bf = rng.integers(0, 1 << 16, size=(7, 9), dtype=np.uint16)
    st.append(("rand.bf16", "BF16", [7, 9], bf.tobytes()))
    st_expected["rand.bf16"] = (bf16_value(bf), (7, 9))
    h = rng.integers(0, 1 << 16, size=(5,), dtype=np.uint16)
    st.append(("rand.f16", "F16", [5], h.tobytes()))
    st_expected["rand.f16"] = (f16_value(h), (5,))
    f = rng.standard_normal((2, 3, 4)).astype(np.float32)
    st.append(("rand.f32", "F32", [2, 3, 4], f.tobytes()))
    st_expected["rand.f32"] = (f, (2, 3, 4))
    d = rng.standard_normal((3, 5)) * 1e3
    st.append(("rand.f64", "F64", [3, 5], d.tobytes()))
    st_expected["rand.f64"] = (d, (3, 5))
    # An FP8 weight whose scale tensor has the wrong shape must be rejected.
    st.append(("bad.weight", "F8_E4M3", [4, 4], bytes(16)))
    st.append(("bad.weight_scale_inv", "F32", [2, 2], bytes(16)))

    st_dir = os.path.join(work, "st")
    os.makedirs(st_dir, exist_ok=True)
    st_path = os.path.join(st_dir, "model.safetensors")
    write_safetensors(st_path, st)
    print("== %s: %d tensors" % (st_path, len(st)))
    for name, (want, shape) in st_expected.items():
        dt = next(t[1] for t in st if t[0] == name)
        chk.check(st_path, name, "%s %s" % (dt, name), want, shape)
    # The same through the folder (a checkpoint holding one .safetensors file).
    name = "edge.weight"
    chk.check(st_dir, name, "folder: F8_E4M3 " + name, st_expected[name][0], st_expected[name][1])
    chk.expect_error(st_path, "bad.weight", "FP8 bad scale shape", "scale")

    if chk.failures:
        print("FAILED: %d mismatches" % chk.failures)
        return 1
    print("all %d dumps matched the NumPy reference" % chk.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
