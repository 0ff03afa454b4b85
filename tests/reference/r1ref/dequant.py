"""Dequantization to float64, vectorised with NumPy.

Scalar formats: F32, F16, BF16, F64, FP8 E4M3 (+ 128x128 block scales, multiplied).
ggml block formats: Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (layouts as in
deepseek-architecture.md section 2.6). Every block function takes the raw bytes of a whole
number of blocks and returns a flat float64 array in element order.
"""
import numpy as np

QK_K = 256


# ------------------------------------------------------------------ scalar formats

def f16_to_f64(u16):
    """IEEE binary16 bits (any integer array) -> float64, decoded from the bit fields."""
    b = np.asarray(u16).astype(np.int64)
    sign = np.where(b & 0x8000, -1.0, 1.0)
    e = (b >> 10) & 0x1F
    m = (b & 0x3FF).astype(np.float64)
    normal = np.ldexp(1.0 + m / 1024.0, (e - 15).astype(np.int32))
    subnormal = np.ldexp(m / 1024.0, -14)
    inf_nan = np.where(m == 0, np.inf, np.nan)
    return sign * np.where(e == 0, subnormal, np.where(e == 31, inf_nan, normal))


def bf16_to_f64(u16):
    """bfloat16 bits: the top half of a float32."""
    b = np.asarray(u16).astype(np.uint32) << np.uint32(16)
    return b.view(np.float32).astype(np.float64)


def _e4m3_table():
    c = np.arange(256, dtype=np.int64)
    sign = np.where(c & 0x80, -1.0, 1.0)
    e = (c >> 3) & 0xF
    m = (c & 7).astype(np.float64)
    v = np.where(e == 0, np.ldexp(m / 8.0, -6), np.ldexp(1.0 + m / 8.0, (e - 7).astype(np.int32)))
    v = np.where((e == 15) & (m == 7), np.nan, v)  # E4M3FN: no infinities, S.1111.111 = NaN
    return sign * v


E4M3 = _e4m3_table()


def e4m3_to_f64(u8):
    return E4M3[np.asarray(u8, dtype=np.uint8)]


def apply_block_scales(w, scale_inv, block=(128, 128)):
    """DeepSeek FP8: W[i, j] = Wq[i, j] * S[i // 128, j // 128] (the 'inverse' scale multiplies)."""
    w = np.asarray(w, dtype=np.float64)
    s = np.asarray(scale_inv, dtype=np.float64)
    if w.ndim != 2 or s.ndim != 2:
        raise ValueError("block scales need a 2-D weight and a 2-D scale")
    br, bc = block
    rows, cols = w.shape
    if s.shape != (-(-rows // br), -(-cols // bc)):
        raise ValueError(f"scale shape {s.shape} does not cover weight {w.shape} in {block} blocks")
    full = np.repeat(np.repeat(s, br, axis=0), bc, axis=1)[:rows, :cols]
    return w * full


# ------------------------------------------------------------------ ggml blocks

def _blocks(raw, nbytes):
    a = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8)
    if a.size % nbytes:
        raise ValueError(f"{a.size} bytes is not a whole number of {nbytes}-byte blocks")
    return a.reshape(-1, nbytes)


def _f16_field(blk, off):
    return f16_to_f64(blk[:, off].astype(np.uint16) | (blk[:, off + 1].astype(np.uint16) << 8))


def dq_q8_0(raw):
    b = _blocks(raw, 34)
    d = _f16_field(b, 0)
    qs = b[:, 2:34].view(np.int8).astype(np.float64)
    return (d[:, None] * qs).reshape(-1)


def dq_q4_0(raw):
    b = _blocks(raw, 18)
    d = _f16_field(b, 0)
    qs = b[:, 2:18].astype(np.int64)
    q = np.concatenate([(qs & 0xF) - 8, (qs >> 4) - 8], axis=1).astype(np.float64)
    return (d[:, None] * q).reshape(-1)


def dq_q2_k(raw):
    b = _blocks(raw, 84)
    scales = b[:, 0:16].astype(np.int64).reshape(-1, 2, 4, 2)   # [blk, n, j, g] = scales[8n+2j+g]
    qs = b[:, 16:80].astype(np.int64).reshape(-1, 2, 1, 2, 16)  # [blk, n, -, g, l] = qs[32n+16g+l]
    d = _f16_field(b, 80)[:, None, None, None, None]
    dmin = _f16_field(b, 82)[:, None, None, None, None]
    shift = (2 * np.arange(4)).reshape(1, 1, 4, 1, 1)
    q = (qs >> shift) & 3                                        # [blk, n, j, g, l]
    sc = (scales & 0xF)[..., None]
    mn = (scales >> 4)[..., None]
    return (d * sc * q - dmin * mn).reshape(-1)


def dq_q3_k(raw):
    b = _blocks(raw, 110)
    hmask = b[:, 0:32].astype(np.int64).reshape(-1, 1, 1, 2, 16)  # hmask[16g+l]
    qs = b[:, 32:96].astype(np.int64).reshape(-1, 2, 1, 2, 16)    # qs[32n+16g+l]
    s = b[:, 96:108].astype(np.int64)
    d = _f16_field(b, 108)[:, None, None, None, None]
    k = np.arange(16)
    low = np.where(k < 8, s[:, k % 8] & 0xF, s[:, k % 8] >> 4)
    high = (s[:, 8 + k % 4] >> (2 * (k // 4))) & 3
    scale = ((low | (high << 4)) - 32).reshape(-1, 2, 4, 2, 1)    # [blk, n, j, g] = scale[8n+2j+g]
    j = np.arange(4).reshape(1, 1, 4, 1, 1)
    n = np.arange(2).reshape(1, 2, 1, 1, 1)
    q = (qs >> (2 * j)) & 3
    hbit = (hmask >> (4 * n + j)) & 1
    return (d * scale * (q - np.where(hbit == 1, 0, 4))).reshape(-1)


def _k_scales_mins(s):
    """6-bit scales and mins of Q4_K / Q5_K: s is [blk, 12] int64 -> two [blk, 8] arrays."""
    sc = np.empty((s.shape[0], 8), dtype=np.int64)
    mn = np.empty_like(sc)
    for k in range(4):
        sc[:, k] = s[:, k] & 63
        mn[:, k] = s[:, k + 4] & 63
    for k in range(4, 8):
        sc[:, k] = (s[:, k + 4] & 0xF) | ((s[:, k - 4] >> 6) << 4)
        mn[:, k] = (s[:, k + 4] >> 4) | ((s[:, k] >> 6) << 4)
    return sc, mn


def dq_q4_k(raw):
    b = _blocks(raw, 144)
    d = _f16_field(b, 0)[:, None, None, None]
    dmin = _f16_field(b, 2)[:, None, None, None]
    sc, mn = _k_scales_mins(b[:, 4:16].astype(np.int64))
    qs = b[:, 16:144].astype(np.int64).reshape(-1, 4, 32)          # [blk, c, l]
    q = np.stack([qs & 0xF, qs >> 4], axis=2)                      # [blk, c, half, l]
    sc = sc.reshape(-1, 4, 2, 1)                                   # sub-block 2c + half
    mn = mn.reshape(-1, 4, 2, 1)
    return (d * sc * q - dmin * mn).reshape(-1)


def dq_q5_k(raw):
    b = _blocks(raw, 176)
    d = _f16_field(b, 0)[:, None, None, None]
    dmin = _f16_field(b, 2)[:, None, None, None]
    sc, mn = _k_scales_mins(b[:, 4:16].astype(np.int64))
    qh = b[:, 16:48].astype(np.int64).reshape(-1, 1, 1, 32)        # qh[l]
    qs = b[:, 48:176].astype(np.int64).reshape(-1, 4, 32)
    q = np.stack([qs & 0xF, qs >> 4], axis=2)                      # [blk, c, half, l]
    bit = (2 * np.arange(4).reshape(1, 4, 1, 1) + np.arange(2).reshape(1, 1, 2, 1))
    q = q + 16 * ((qh >> bit) & 1)
    sc = sc.reshape(-1, 4, 2, 1)
    mn = mn.reshape(-1, 4, 2, 1)
    return (d * sc * q - dmin * mn).reshape(-1)


def dq_q6_k(raw):
    b = _blocks(raw, 210)
    ql = b[:, 0:128].astype(np.int64).reshape(-1, 2, 64)           # [blk, n, 64]
    qh = b[:, 128:192].astype(np.int64).reshape(-1, 2, 32)         # [blk, n, 32]
    sc = b[:, 192:208].view(np.int8).astype(np.int64).reshape(-1, 2, 8)
    d = _f16_field(b, 208)[:, None, None, None]
    lo, hi = ql[:, :, :32], ql[:, :, 32:]
    q = np.stack([
        (lo & 0xF) | ((qh >> 0) & 3) << 4,
        (hi & 0xF) | ((qh >> 2) & 3) << 4,
        (lo >> 4) | ((qh >> 4) & 3) << 4,
        (hi >> 4) | ((qh >> 6) & 3) << 4,
    ], axis=2) - 32                                                # [blk, n, quarter, l]
    is_ = np.arange(32) // 16                                      # sc[is + 2*quarter]
    idx = is_[None, :] + 2 * np.arange(4)[:, None]                 # [quarter, l]
    s = sc[:, :, idx]                                              # [blk, n, quarter, l]
    return (d * s * q).reshape(-1)


# ggml type id -> (name, elements per block, bytes per block, dequantizer of raw bytes)
def _plain(dtype, conv=None):
    def f(raw):
        a = np.frombuffer(raw, dtype=dtype) if not isinstance(raw, np.ndarray) else raw.view(dtype)
        return conv(a) if conv else a.astype(np.float64)
    return f


GGML_TYPES = {
    0: ("F32", 1, 4, _plain("<f4")),
    1: ("F16", 1, 2, _plain("<u2", f16_to_f64)),
    2: ("Q4_0", 32, 18, dq_q4_0),
    8: ("Q8_0", 32, 34, dq_q8_0),
    10: ("Q2_K", 256, 84, dq_q2_k),
    11: ("Q3_K", 256, 110, dq_q3_k),
    12: ("Q4_K", 256, 144, dq_q4_k),
    13: ("Q5_K", 256, 176, dq_q5_k),
    14: ("Q6_K", 256, 210, dq_q6_k),
    24: ("I8", 1, 1, _plain("<i1")),
    25: ("I16", 1, 2, _plain("<i2")),
    26: ("I32", 1, 4, _plain("<i4")),
    27: ("I64", 1, 8, _plain("<i8")),
    28: ("F64", 1, 8, _plain("<f8")),
    30: ("BF16", 1, 2, _plain("<u2", bf16_to_f64)),
}

# safetensors dtype -> (bytes per element, raw -> float64)
ST_TYPES = {
    "F64": (8, _plain("<f8")),
    "F32": (4, _plain("<f4")),
    "F16": (2, _plain("<u2", f16_to_f64)),
    "BF16": (2, _plain("<u2", bf16_to_f64)),
    "F8_E4M3": (1, _plain("<u1", e4m3_to_f64)),
    "I8": (1, _plain("<i1")),
    "U8": (1, _plain("<u1")),
    "I16": (2, _plain("<i2")),
    "I32": (4, _plain("<i4")),
    "I64": (8, _plain("<i8")),
}
