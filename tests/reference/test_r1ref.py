#!/usr/bin/env python3
"""Self-tests of the r1ref float64 reference (tests/reference/r1ref, docs/REFERENCE.md).

Uses the r1 binary only to make seeded test models (`make-test-model`) and, for the
dequantizer cross-check, `dump-tensor`. Checks:
  analytic   softmax scales of R1 / V2-Lite from tests/data/configs, YaRN correction dims
             10/23, YaRN blend, llama3 factors, RoPE pairings, routing on hand-made examples
             (group limit, correction bias, softmax vs sigmoid, group_limited_greedy)
  dequant    r1ref's dequantizers == r1 dump-tensor on random blocks of every type
  formats    GGUF == safetensors for deepseek_v3 / deepseek_v2 / qwen2 / llama (F32, one seed;
             ~1e-12 once the GGUF's float32 metadata is replaced by the config.json values)
  mla        naive (decompressed, batched) == absorbed (latent cache, one query at a time)
  kv_b       legacy attn_kv_b GGUF == split attn_k_b / attn_v_b GGUF
  split      a 3-file split GGUF == the single file
  quantized  Q8_0 / Q4_K_M GGUF, FP8 / BF16 safetensors close to F32 (per-tensor and logits,
             with the F32 model's expert choice imposed so routing flips don't count)
  mtp        MTP draft logits: GGUF == safetensors, next-token row, prenorm != postnorm
  cli        python3 -m r1ref writes float32 [n, vocab] equal to the in-process result

Usage: test_r1ref.py --r1 PATH_TO_R1 [--keep DIR] [--seed N]
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from r1ref import config as rconfig  # noqa: E402
from r1ref import dequant  # noqa: E402
from r1ref.loader import load_model, open_weights  # noqa: E402
from r1ref.model import (Model, apply_rope, llama3_inv_freq, rope_inv_freq, route,  # noqa: E402
                         yarn_inv_freq, yarn_low_high)

ARCHS = ["deepseek_v3", "deepseek_v2", "qwen2", "llama"]
TOKENS = [1, 5, 17, 300, 42, 7, 99, 511, 0, 256, 3, 128, 64, 77, 200, 401]

failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def rel(a, b):
    """max |a - b| / max |b|"""
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(b).max(), 1e-300))


def rms_rel(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - b) ** 2) / np.mean(np.asarray(b) ** 2)))


class R1:
    def __init__(self, path, work):
        self.path, self.work = path, work
        self.made = {}

    def run(self, *args):
        p = subprocess.run([self.path, *map(str, args)], capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(f"r1 {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p.stdout

    def model(self, arch, fmt, typ="F32", seed=1, extra=()):
        key = (arch, fmt, typ, seed, tuple(extra))
        if key not in self.made:
            name = f"{arch}-{typ}-s{seed}{''.join(e.replace('-', '_') for e in extra)}"
            out = os.path.join(self.work, name + (".gguf" if fmt == "gguf" else ""))
            self.run("make-test-model", "--arch", arch, "--format", fmt, "--shape", "tiny",
                     "--type", typ, "--seed", seed, *extra, "-q", out)
            if "--split" in extra:
                n = int(extra[list(extra).index("--split") + 1])
                out = os.path.join(self.work, f"{name}-00001-of-{n:05d}.gguf")
            self.made[key] = out
        return self.made[key]


# ------------------------------------------------------------------ analytic checks

def test_analytic():
    cfgs = os.path.join(ROOT, "tests", "data", "configs")
    with open(os.path.join(cfgs, "deepseek-r1.json")) as f:
        r1 = rconfig.from_hf(json.load(f))
    with open(os.path.join(cfgs, "deepseek-v2-lite.json")) as f:
        v2l = rconfig.from_hf(json.load(f))
    check(abs(r1.attn_scale - 0.1352337789) < 1e-10, f"R1 softmax scale {r1.attn_scale:.10f} == 0.1352337789")
    check(abs(v2l.attn_scale - 0.1147213868) < 1e-10, f"V2-Lite softmax scale {v2l.attn_scale:.10f} == 0.1147213868")
    check(r1.rope_magnitude == 1.0 and v2l.rope_magnitude == 1.0, "YaRN cos/sin magnitude is 1 (mscale == mscale_all_dim)")
    check(v2l.q_lora_rank == 0 and r1.q_lora_rank == 1536, "q_lora_rank null (V2-Lite) / 1536 (R1)")
    lo, hi = yarn_low_high(64, 10000.0, 4096, 32.0, 1.0)
    check((lo, hi) == (10, 23), f"YaRN correction dims {lo}/{hi} == 10/23")
    inv = rope_inv_freq(64, 10000.0)
    f = yarn_inv_freq(64, 10000.0, 40.0, 4096, 32.0, 1.0)
    blend = inv[16] * (1 - 6 / 13) + inv[16] / 40 * (6 / 13)
    check(np.array_equal(f[:11], inv[:11]) and np.allclose(f[23:], inv[23:] / 40, rtol=1e-15)
          and abs(f[16] - blend) < 1e-18 and abs(f[16] - 5.5e-3) < 2e-4,
          f"YaRN blend: pairs 0..10 kept, >=23 divided by 40, pair 16 {f[16]:.4g}")

    # Llama-3.1: HF's llama3 inv_freq == theta / rope_freqs factor (section 2.5 formula)
    with open(os.path.join(cfgs, "r1-distill-llama-8b.json")) as fh:
        ll = rconfig.from_hf(json.load(fh))
    got = llama3_inv_freq(128, ll.rope_theta, 8.0, 1.0, 4.0, 8192)
    base = rope_inv_freq(128, ll.rope_theta)
    wl = 2 * math.pi / base
    t = (8192 / wl - 1) / 3
    fac = np.where(wl < 8192 / 4, 1.0, np.where(wl > 8192, 8.0, 1 / ((1 - t) / 8 + t)))
    check(ll.rope_kind == "llama3" and np.allclose(got, base / fac, rtol=1e-14, atol=0),
          "llama3 frequencies == theta_i / rope_freqs factor_i")

    # RoPE: NEOX on x == interleaved on the de-interleaving permutation of x, permuted back
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 16))
    pos = np.arange(5) * 7
    invf = rope_inv_freq(16, 10000.0)
    perm = np.empty(16, dtype=int)
    perm[0::2], perm[1::2] = np.arange(8), np.arange(8, 16)   # interleaved slot -> neox index
    a = apply_rope(x, pos, invf, "neox")
    b = apply_rope(x[..., perm], pos, invf, "interleaved")
    check(np.allclose(a[..., perm], b, atol=1e-14), "rotate-half RoPE == interleaved RoPE on permuted rows")
    r = apply_rope(x, pos, invf, "interleaved")
    check(np.allclose(np.linalg.norm(r, axis=-1), np.linalg.norm(x, axis=-1))
          and np.allclose(apply_rope(x, np.zeros(5), invf, "interleaved"), x),
          "RoPE preserves norms, is the identity at position 0")

    # Routing, sigmoid + correction bias + group-limited top-k (group score = top-2 sum)
    class C:
        pass
    v3 = C()
    v3.scoring, v3.top_k, v3.n_group, v3.topk_group = "sigmoid", 2, 4, 2
    v3.group_score, v3.norm_topk_prob, v3.routed_scaling_factor, v3.scale_mode = "top2sum", True, 2.5, "always"
    s = np.array([[0.95, 0.05, 0.60, 0.58, 0.90, 0.02, 0.55, 0.54]])
    logits = np.log(s / (1 - s))
    e, w, _ = route(logits, v3)
    check(sorted(e[0]) == [2, 3] and np.allclose(w[0], 2.5 * s[0, e[0]] / s[0, e[0]].sum()),
          f"V3 group limit (top-2 sum) changes the choice: {sorted(e[0])} (no limit: [0, 4])")
    v3.n_group = 1
    e, _, _ = route(logits, v3)
    check(sorted(e[0]) == [0, 4], "V3 without group limit picks the two largest scores")
    v3.n_group = 4
    v3.group_score = "max"
    e, _, _ = route(logits, v3)
    check(sorted(e[0]) == [0, 4], "group score 'max' (V2 rule) keeps groups 0 and 2 here")
    v3.group_score = "top2sum"
    bias = np.array([0, 0, 0, 0, 0, 0, 0.5, 0])
    e, w, _ = route(logits, v3, bias)
    want = np.array([6, 2])
    check(list(e[0]) == [6, 2] and np.allclose(w[0], 2.5 * s[0, want] / s[0, want].sum()),
          "correction bias changes the selection only; weights are the unbiased sigmoid scores")
    check(abs(w[0].sum() - 2.5) < 1e-12, "V3 weights sum to routed_scaling_factor 2.5")

    # Routing, softmax (V2): greedy / group_limited_greedy (group score = max), norm off/on
    v2 = C()
    v2.scoring, v2.top_k, v2.n_group, v2.topk_group = "softmax", 2, 1, 1
    v2.group_score, v2.norm_topk_prob, v2.routed_scaling_factor, v2.scale_mode = "max", False, 1.0, "v2"
    lg = np.array([[3.0, 2.9, 3.1, -5.0]])
    p = np.exp(lg - lg.max())
    p /= p.sum()
    e, w, _ = route(lg, v2)
    check(list(e[0]) == [2, 0] and np.allclose(w[0], p[0, [2, 0]]) and w[0].sum() < 1,
          "V2 greedy: softmax probabilities of the top-k, not renormalised")
    v2.n_group = 2
    e, w, _ = route(lg, v2)
    check(list(e[0]) == [2, 3] and np.allclose(w[0], p[0, [2, 3]]),
          "V2 group_limited_greedy (max) masks group 0, so expert 3 (logit -5) is chosen")
    v2.n_group, v2.norm_topk_prob = 1, True
    e, w, _ = route(lg, v2)
    check(np.allclose(w[0], p[0, [2, 0]] / p[0, [2, 0]].sum()), "V2 norm_topk_prob: weights renormalised to 1")
    v2.norm_topk_prob, v2.routed_scaling_factor = False, 16.0
    e, w, _ = route(lg, v2)
    check(np.allclose(w[0], 16 * p[0, [2, 0]]), "V2 without normalisation: weights x routed_scaling_factor")
    e_sig, _, _ = route(lg, _sig_only())
    check(list(e_sig[0]) == [2, 0], "sigmoid and softmax scores rank experts the same way")


def _sig_only():
    class C:
        pass
    c = C()
    c.scoring, c.top_k, c.n_group, c.topk_group = "sigmoid", 2, 1, 1
    c.group_score, c.norm_topk_prob, c.routed_scaling_factor, c.scale_mode = "top2sum", True, 1.0, "always"
    return c


# ------------------------------------------------------------------ dequantizers vs r1

def _f16_bytes(rng, n):
    return (rng.uniform(-1, 1, n) * 2.0 ** rng.integers(-12, 0, n)).astype("<f2").view(np.uint8).reshape(n, 2)


def _random_blocks(rng, name, nblk):
    _, blk_elems, nbytes, _ = {v[0]: (k,) + v[1:] for k, v in dequant.GGML_TYPES.items()}[name]
    b = rng.integers(0, 256, (nblk, nbytes), dtype=np.uint8)
    f16_at = {"Q8_0": [0], "Q4_0": [0], "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2],
              "Q5_K": [0, 2], "Q6_K": [208]}[name]
    for off in f16_at:
        b[:, off:off + 2] = _f16_bytes(rng, nblk)
    return b


def write_gguf(path, tensors):
    """Minimal GGUF v3 writer: tensors = [(name, ne list, ggml type id, raw bytes)]."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    head += s("general.architecture") + struct.pack("<I", 8) + s("test")
    off, infos, blobs = 0, b"", []
    for name, ne, t, raw in tensors:
        infos += s(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", t, off)
        pad = (-len(raw)) % 32
        blobs.append(raw + b"\0" * pad)
        off += len(raw) + pad
    data = head + infos
    data += b"\0" * ((-len(data)) % 32)
    with open(path, "wb") as f:
        f.write(data + b"".join(blobs))


def test_dequant(r1, work):
    rng = np.random.default_rng(11)
    ids = {v[0]: k for k, v in dequant.GGML_TYPES.items()}
    tensors = []
    for name in ["Q8_0", "Q4_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        per = dequant.GGML_TYPES[ids[name]][1]
        blocks = _random_blocks(rng, name, 2 * 512 // per)
        tensors.append((f"t_{name}", [512, 2], ids[name], blocks.tobytes()))
    tensors.append(("t_F16", [64, 3], 1, _f16_bytes(rng, 192).tobytes()))
    bf = rng.integers(0, 65536, 192, dtype=np.uint16)
    bf[((bf >> 7) & 0xFF) == 0xFF] &= 0xBFFF  # exponent all ones -> clear its top bit: finite
    tensors.append(("t_BF16", [64, 3], 30, bf.astype("<u2").tobytes()))
    path = os.path.join(work, "blocks.gguf")
    write_gguf(path, tensors)
    from r1ref.gguf import GGUF
    g = GGUF(path)
    for name, ne, _, _ in tensors:
        out = os.path.join(work, name + ".npy")
        r1.run("dump-tensor", path, name, "-o", out)
        theirs = np.load(out).astype(np.float64)
        mine = g.tensor(name)
        ok = mine.shape == theirs.shape == (ne[1], ne[0])
        err = rel(theirs, mine) if ok else float("inf")
        check(ok and err < 2e-6, f"dequant {name[2:]}: r1ref == r1 dump-tensor (rel {err:.2g})")
    # FP8 with block scales, from a safetensors test model
    fp8 = r1.model("deepseek_v3", "safetensors", "FP8")
    from r1ref.safetensors import Checkpoint
    ck = Checkpoint(fp8)
    name = "model.layers.0.self_attn.q_b_proj.weight"
    out = os.path.join(work, "fp8.npy")
    r1.run("dump-tensor", fp8, name, "-o", out)
    check(ck.dtype(name) == "F8_E4M3" and rel(np.load(out), ck.tensor(name)) < 1e-7,
          "dequant FP8 E4M3 x 128x128 scale_inv: r1ref == r1 dump-tensor")
    check(np.isnan(dequant.E4M3[0x7F]) and dequant.E4M3[0x7E] == 448 and dequant.E4M3[1] == 2.0 ** -9,
          "E4M3: 0x7F NaN, max 448, smallest subnormal 2^-9")


# ------------------------------------------------------------------ model-level checks

FLOAT_FIELDS = ["eps", "rope_theta", "yarn_factor", "yarn_beta_fast", "yarn_beta_slow",
                "yarn_mscale", "yarn_mscale_all_dim", "routed_scaling_factor"]
EXACT_FIELDS = ["arch", "vocab_size", "hidden", "n_layers", "n_heads", "head_dim", "ffn_dim",
                "rope_style", "rope_dim", "mla", "q_lora_rank", "kv_lora_rank", "qk_nope_dim",
                "qk_rope_dim", "v_head_dim", "first_dense", "n_experts", "top_k", "n_shared",
                "moe_ffn_dim", "scoring", "n_group", "topk_group", "group_score",
                "norm_topk_prob", "scale_mode", "has_router_bias", "n_mtp", "yarn_orig_ctx"]


def aligned_pair(gguf_path, st_path):
    """Both models, with the GGUF's float32-rounded scalars replaced by config.json's."""
    mg, mh = load_model(gguf_path), load_model(st_path)
    cg, ch = mg.cfg, mh.cfg
    bad = [f for f in EXACT_FIELDS if getattr(cg, f) != getattr(ch, f) and f != "rope_style"]
    # Llama GGUFs hold q/k rows permuted to interleaved order; everything else keeps its pairing
    want = ("interleaved", "neox") if ch.arch == "llama" else (ch.rope_style, ch.rope_style)
    if (cg.rope_style, ch.rope_style) != want:
        bad.append(f"rope_style {cg.rope_style}/{ch.rope_style}")
    bad += [f for f in FLOAT_FIELDS
            if abs(getattr(cg, f) - getattr(ch, f)) > 1e-6 * max(abs(getattr(ch, f)), 1e-30)]
    for f in FLOAT_FIELDS:
        setattr(cg, f, getattr(ch, f))
    cg.finish()
    mg = Model(cg, mg.w)
    # RoPE frequencies, e.g. Llama-3's GGUF rope_freqs.weight vs HF rope_scaling llama3
    if not np.allclose(mg.inv_freq, mh.inv_freq, rtol=1e-6, atol=0):
        bad.append("rope frequencies")
    return mg, mh, bad


def test_formats(r1):
    for arch in ARCHS:
        t0 = time.time()
        mg, mh, bad = aligned_pair(r1.model(arch, "gguf"), r1.model(arch, "safetensors"))
        check(not bad, f"{arch}: GGUF and config.json hyper-parameters agree {bad or ''}")
        lg, _, hg = mg.forward(TOKENS)
        lh, _, hh = mh.forward(TOKENS)
        err = rel(lg, lh)
        check(lg.shape == (len(TOKENS), mh.cfg.vocab_size) and err < 1e-10,
              f"{arch}: GGUF logits == safetensors logits, F32 (rel {err:.2g}, {time.time() - t0:.1f}s)")
        if mh.cfg.n_mtp:
            mtg, mth = mg.mtp(TOKENS, hg), mh.mtp(TOKENS, hh)
            err = rel(mtg, mth)
            check(mtg.shape == (len(TOKENS) - 1, mh.cfg.vocab_size) and err < 1e-10,
                  f"{arch}: GGUF MTP logits == safetensors MTP logits (rel {err:.2g})")
        if mh.cfg.mla:
            la, _, _ = mh.forward(TOKENS, "absorbed")
            err = rel(la, lh)
            check(err < 1e-12, f"{arch}: MLA naive == absorbed, safetensors (rel {err:.2g})")
            la, _, _ = mg.forward(TOKENS, "absorbed")
            err = rel(la, lg)
            check(err < 1e-12, f"{arch}: MLA naive == absorbed, GGUF (rel {err:.2g})")
        # the first position must not see the others (causality)
        l1, _, _ = mh.forward(TOKENS[:3])
        check(rel(l1, lh[:3]) < 1e-12, f"{arch}: logits of a prefix == first rows of the full run")


def test_kv_b_and_split(r1):
    split = load_model(r1.model("deepseek_v3", "gguf"))
    legacy = load_model(r1.model("deepseek_v3", "gguf", extra=("--legacy-kv-b",)))
    check("blk.0.attn_kv_b.weight" in legacy.w.file and "blk.0.attn_k_b.weight" in split.w.file,
          "legacy file has attn_kv_b, default file has attn_k_b/attn_v_b")
    ls, _, hs = split.forward(TOKENS)
    ll, _, hl = legacy.forward(TOKENS)
    check(rel(ll, ls) < 1e-13 and rel(legacy.mtp(TOKENS, hl), split.mtp(TOKENS, hs)) < 1e-13,
          f"legacy attn_kv_b GGUF == split attn_k_b/attn_v_b GGUF (rel {rel(ll, ls):.2g})")
    ls2, _, _ = legacy.forward(TOKENS, "absorbed")
    check(rel(ls2, ls) < 1e-12, "legacy attn_kv_b, absorbed MLA == split, naive")
    one = load_model(r1.model("deepseek_v3", "gguf", "Q8_0"))
    three = load_model(r1.model("deepseek_v3", "gguf", "Q8_0", extra=("--split", "3")))
    check(len(three.w.file.files) == 3, "split set: 3 files opened from the first one")
    l1, _, _ = one.forward(TOKENS)
    l3, _, _ = three.forward(TOKENS)
    check(np.array_equal(l1, l3), "3-file split GGUF == single GGUF (Q8_0)")


# per-type bounds: (per-tensor RMS relative error, logits RMS relative error with forced routing)
QUANT_BOUNDS = {"BF16": (0.005, 0.03), "Q8_0": (0.008, 0.05), "FP8": (0.04, 0.25),
                "Q4_K_M": (0.12, 0.35)}


def test_quantized(r1):
    ref = load_model(r1.model("deepseek_v3", "safetensors"))
    ref.trace = {}
    lr, _, hr = ref.forward(TOKENS)
    mr = ref.mtp(TOKENS, hr)
    forced = {k[:-len("moe_experts")]: v for k, v in ref.trace.items() if k.endswith("moe_experts")}
    for typ, fmt in [("Q8_0", "gguf"), ("Q4_K_M", "gguf"), ("FP8", "safetensors"), ("BF16", "safetensors")]:
        wbound, lbound = QUANT_BOUNDS[typ]
        m = load_model(r1.model("deepseek_v3", fmt, typ))
        worst, worst_name = 0.0, ""
        for name in ref.w.expected():
            e = rms_rel(m.w.get(name), ref.w.get(name))
            if e > worst:
                worst, worst_name = e, name
        check(worst < wbound, f"deepseek_v3 {typ} {fmt}: every tensor within {wbound:.1%} RMS of F32 "
              f"(worst {worst:.3%}, {worst_name})")
        m.forced_routing = forced
        lq, _, hq = m.forward(TOKENS)
        mq = m.mtp(TOKENS, hq)
        e, em = rms_rel(lq, lr), rms_rel(mq, mr)
        agree = float(np.mean(lq.argmax(-1) == lr.argmax(-1)))
        check(e < lbound and em < lbound and agree >= 0.5,
              f"deepseek_v3 {typ} {fmt}: logits within {lbound:.0%} RMS of F32 ({e:.3%}, MTP {em:.3%}, "
              f"argmax agrees {agree:.0%}; routing of the F32 model imposed)")
    # a dense architecture needs no routing help
    for arch in ["qwen2", "llama"]:
        lf, _, _ = load_model(r1.model(arch, "safetensors")).forward(TOKENS)
        lq, _, _ = load_model(r1.model(arch, "gguf", "Q8_0")).forward(TOKENS)
        e = rms_rel(lq, lf)
        check(e < 0.05 and np.mean(lq.argmax(-1) == lf.argmax(-1)) >= 0.75,
              f"{arch} Q8_0 GGUF logits within 5% RMS of F32 safetensors ({e:.3%})")


def test_mtp(r1):
    m = load_model(r1.model("deepseek_v3", "safetensors"))
    logits, pre, post = m.forward(TOKENS)
    a = m.mtp(TOKENS, post)
    b = m.mtp(TOKENS, post, next_token=int(logits[-1].argmax()))
    check(b.shape[0] == len(TOKENS) and rel(b[:-1], a) < 1e-13,
          "MTP with next_token adds row n-1 and leaves the others unchanged")
    c = m.mtp(TOKENS, pre)
    check(rms_rel(c, a) > 1e-3, "MTP from the pre-norm hidden state differs from post-norm")
    d = m.mtp(TOKENS, post, form="absorbed")
    check(rel(d, a) < 1e-12, "MTP block: MLA naive == absorbed")
    m2 = load_model(r1.model("deepseek_v3", "safetensors", extra=("--no-mtp",)))
    check(m2.cfg.n_mtp == 0 and rel(m2.forward(TOKENS)[0], logits) < 1e-13,
          "--no-mtp file: same main-model logits, no MTP layer")


def test_coverage(r1):
    """The tiny DeepSeek-V3 model must exercise the routing rules, or comparisons prove little."""
    import copy
    m = load_model(r1.model("deepseek_v3", "safetensors"))
    m.trace = {}
    m.forward(TOKENS)
    c = m.cfg
    no_groups = copy.copy(c)
    no_groups.n_group = 1
    n_group = n_bias = n_tok = 0
    for key, logits in m.trace.items():
        if key.endswith("moe_logits"):
            bias = m.w.get(key[:-len("moe_logits")] + "router_bias")
            e, _, _ = route(logits, c, bias)
            e1, _, _ = route(logits, no_groups, bias)
            e2, _, _ = route(logits, c, None)
            n_group += int((np.sort(e, 1) != np.sort(e1, 1)).any(1).sum())
            n_bias += int((np.sort(e, 1) != np.sort(e2, 1)).any(1).sum())
            n_tok += len(logits)
    check(n_group > 0 and n_bias > 0,
          f"tiny deepseek_v3: the group limit changes {n_group} and the correction bias {n_bias} "
          f"of {n_tok} expert choices")


def test_cli(r1, work):
    model = r1.model("deepseek_v3", "gguf")
    out, mtp = os.path.join(work, "cli.npy"), os.path.join(work, "cli_mtp.npy")
    toks = ",".join(map(str, TOKENS[:6]))
    p = subprocess.run([sys.executable, "-m", "r1ref", model, "--tokens", toks, "--out", out,
                        "--mtp-out", mtp, "--mla", "absorbed"], cwd=HERE, capture_output=True, text=True)
    check(p.returncode == 0, "python3 -m r1ref runs" + ("" if p.returncode == 0 else ": " + p.stderr[-400:]))
    if p.returncode:
        return
    a, b = np.load(out), np.load(mtp)
    lm, _, hm = load_model(model).forward(TOKENS[:6])
    mm = load_model(model).mtp(TOKENS[:6], hm)
    check(a.dtype == np.float32 and a.shape == (6, 512) and rel(a, lm) < 1e-6,
          "CLI logits: float32 [n_tokens, n_vocab] == in-process")
    check(b.dtype == np.float32 and b.shape == (5, 512) and rel(b, mm) < 1e-6,
          "CLI MTP logits: float32 [n_tokens-1, n_vocab] == in-process")
    p = subprocess.run([sys.executable, os.path.join(HERE, "r1ref_run.py"), model, "--tokens", "1,2",
                        "--out", out], cwd=ROOT, capture_output=True, text=True)
    check(p.returncode == 0 and np.load(out).shape == (2, 512), "r1ref_run.py wrapper runs from the repo root")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--keep", help="keep the generated files in this folder")
    a = ap.parse_args()
    t0 = time.time()
    tmp = None
    if a.keep:
        work = a.keep
        os.makedirs(work, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="r1ref-")
        work = tmp.name
    r1 = R1(os.path.abspath(a.r1), work)
    for name, fn in [("analytic", test_analytic), ("dequant", lambda: test_dequant(r1, work)),
                     ("formats", lambda: test_formats(r1)), ("kv_b/split", lambda: test_kv_b_and_split(r1)),
                     ("quantized", lambda: test_quantized(r1)), ("mtp", lambda: test_mtp(r1)),
                     ("coverage", lambda: test_coverage(r1)),
                     ("cli", lambda: test_cli(r1, work))]:
        print(f"--- {name}", flush=True)
        try:
            fn()
        except Exception as e:  # a crash is a failure of that group, keep going
            import traceback
            traceback.print_exc()
            check(False, f"{name}: raised {type(e).__name__}: {e}")
    print(f"{len(failures)} failure(s), {time.time() - t0:.1f}s")
    if tmp:
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
