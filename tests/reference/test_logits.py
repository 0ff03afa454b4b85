#!/usr/bin/env python3
"""The C++ forward pass against the independent float64 reference (tests/reference/r1ref).

For seeded tiny test models of every architecture, format and several weight types, runs
`r1 generate MODEL --tokens ... -n 0 --dump-logits L.npy [--dump-mtp M.npy]` and compares the
logits of every prompt position (and the MTP draft logits of DeepSeek-V3 files) with r1ref's.
r1 computes in float32 from the same dequantized weights, so the bound is float32 round-off:
max |r1 - ref| / max |ref| < 1e-4 (observed ~1e-6).

An MoE model whose reference routing has a decision within 1e-5 of a tie is reported, not
failed (a float32 engine may legitimately pick the other expert there).
Skips (exit 0) when the r1 binary has no `generate` command yet.

Usage: test_logits.py --r1 PATH_TO_R1 [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from r1ref.loader import load_model  # noqa: E402

TOL = 1e-4
TIE = 1e-5
# A 64-token prompt: longer than the tiny DeepSeek models' original_max_position_embeddings
# (32), so YaRN's blended frequencies matter.
TOKENS = [(i * 37 + 11) % 480 for i in range(64)]
N_GREEDY = 32

# (arch, format, type, seed, extra make-test-model flags)
CASES = [
    # The matrix of the forward-pass issue: every architecture in GGUF F32/BF16/Q8_0/Q4_K/Q6_K
    # and safetensors F32/BF16/FP8 ...
    *[(arch, "gguf", typ, 11, ()) for arch in ("deepseek_v3", "deepseek_v2", "qwen2", "llama")
      for typ in ("BF16", "Q8_0", "Q4_K", "Q6_K")],
    *[(arch, "safetensors", typ, 12, ()) for arch in ("deepseek_v3", "deepseek_v2", "qwen2", "llama")
      for typ in ("BF16", "FP8")],
    # ... plus layouts and mixtures.
    ("deepseek_v3", "gguf", "F32", 1, ()),
    ("deepseek_v3", "safetensors", "F32", 1, ()),
    ("deepseek_v3", "gguf", "F32", 2, ("--legacy-kv-b",)),
    ("deepseek_v3", "gguf", "Q8_0", 3, ("--split", "2")),
    ("deepseek_v3", "gguf", "Q4_K_M", 4, ()),
    ("deepseek_v3", "gguf", "F16", 5, ()),
    ("deepseek_v3", "safetensors", "FP8", 6, ()),
    ("deepseek_v3", "safetensors", "BF16", 7, ()),
    ("deepseek_v3", "gguf", "F32", 8, ("--no-mtp",)),
    ("deepseek_v2", "gguf", "F32", 1, ()),
    ("deepseek_v2", "safetensors", "F32", 1, ()),
    ("deepseek_v2", "gguf", "Q5_K", 2, ()),
    ("qwen2", "gguf", "F32", 1, ()),
    ("qwen2", "safetensors", "F32", 1, ()),
    ("qwen2", "gguf", "Q4_K_M", 2, ()),
    ("llama", "gguf", "F32", 1, ()),
    ("llama", "safetensors", "F32", 1, ()),
    ("llama", "gguf", "Q6_K", 2, ()),
    ("llama", "gguf", "Q4_0", 3, ()),
]


def run(cmd, exact=True):
    # R1_EXACT=1: float32 activations everywhere, the math the float64 reference computes. The
    # default decode kernels (int8 activations for K-quants) are checked apart, more loosely.
    env = dict(os.environ, R1_EXACT="1" if exact else "0")
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)


# Fast mode (bf16 AMX prefill, int8-activation decode and prefill): a tiny random MoE model
# routes with margins of about 0.02 (median, in selection score), so the rounding of the fast
# kernels flips some experts, and a flipped token leaks into the later ones through attention.
# The fast runs therefore dump the experts r1 chose (--dump-routing) and the reference computes
# with that routing (weights still from its own router logits): what is compared is then the
# arithmetic of the kernels, at every position, and how often the routing differs is reported.
#
# Each int8 activation value is rounded to its block's step, |error| <= amax / 254 per value
# (Q8_0-style blocks of 32), at most 0.4 % of the block's largest magnitude; bf16 (AMX) keeps 8
# significant bits, a relative error <= 2^-9 per weight and per activation. Through a whole
# tiny model this stays below FAST_LOGIT_TOL of the largest logit (observed 0.5-2.5 %).
FAST_LOGIT_TOL = 0.05
# Decode steps whose top-2 gap (relative to the largest logit) exceeds this must agree.
FAST_GAP = 0.1
# Argmax agreement is counted where the reference's top-2 gap is above the rounding scale.
FAST_DECISIVE = 0.02
FAST_TYPES = ("Q8_0", "Q4_K", "Q4_K_M", "Q5_K", "Q6_K", "Q4_0")


def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def fast_run(r1, out, ref, work, n_predict, logits_path=None):
    """r1 generate with the default (fast) kernels on TOKENS. Returns (process, generated ids,
    routing note): for a MoE model the reference is set to r1's routing over every position r1
    ran (clear it with ref.forced_routing = None)."""
    cmd = [r1, "generate", out, "--tokens", ",".join(map(str, TOKENS)), "-n", str(n_predict),
           "--print-ids", "--ignore-eos"]
    if logits_path:
        cmd += ["--dump-logits", logits_path]
    moe = ref.cfg.n_experts > 0
    rpath = os.path.join(work, "fast.routing.npy")
    if moe:
        cmd += ["--dump-routing", rpath]
    p = run(cmd, exact=False)
    if p.returncode:
        return p, [], ""
    gen = [int(t) for t in p.stdout.split()]
    if not moe:
        return p, gen, ""
    routing = np.load(rpath).astype(np.int64)  # [moe layers, positions, k]
    layers = [i for i in range(ref.cfg.n_layers) if ref.cfg.is_moe_layer(i)]
    if routing.shape[0] != len(layers):
        raise ValueError(f"r1 traced {routing.shape[0]} MoE layers, the reference has {len(layers)}")
    # How often r1's choice differs from the reference's own (on r1's tokens).
    ref.forced_routing = None
    ref.trace = {}
    ref.forward((TOKENS + gen[:-1])[:routing.shape[1]])
    own = np.stack([np.sort(ref.trace[f"L{i}.moe_experts"], -1) for i in layers])
    ref.trace = None
    differ = float(np.mean(np.any(own != np.sort(routing, -1), -1)))
    ref.forced_routing = {f"L{i}.": routing[j] for j, i in enumerate(layers)}
    return p, gen, f"; r1's routing (used by the reference) differs from its own at {differ:.1%} of token-layers"


def check_fast_decode(r1, out, ref, label, work):
    """Greedy decoding with the default (int8-activation) kernels: at every step r1's token must
    be the reference's argmax (teacher-forced on r1's tokens and routing) unless the step is a
    near-tie at the activation-rounding scale."""
    p, gen, note = fast_run(r1, out, ref, work, N_GREEDY)
    if p.returncode:
        print(f"FAIL {label}: fast r1 generate: {p.stderr.strip()[-300:]}")
        return 1
    full, _, _ = ref.forward(TOKENS + gen[:-1])
    ref.forced_routing = None
    steps = full[len(TOKENS) - 1:]
    top2 = np.sort(steps, -1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]) / np.abs(steps).max(-1)
    bad = [i for i in range(len(gen)) if steps[i].argmax() != gen[i] and gap[i] > FAST_GAP]
    agree = float(np.mean(steps.argmax(-1) == np.array(gen)))
    if bad:
        print(f"FAIL {label}: fast decode differs at step {bad[0]} (gap {gap[bad[0]]:.2g}), "
              f"argmax agrees {agree:.0%}{note}")
        return 1
    print(f"PASS {label}: fast decode (int8 activations) agrees {agree:.0%}, "
          f"all steps with gap > {FAST_GAP:g} agree{note}")
    return 0


def check_fast_prefill(r1, out, want_own, ref, label, work, totals):
    """Prompt logits with the default (fast) kernels against the float64 reference on r1's
    routing: within the bound at every position, argmax equal where the reference's choice is
    decisive, and the mean KL divergence reported. Decisive positions are added to `totals` for
    the overall >= 99 %."""
    lpath = os.path.join(work, "fast.logits.npy")
    p, _, note = fast_run(r1, out, ref, work, 1, lpath)
    if p.returncode:
        print(f"FAIL {label}: fast r1 generate: {p.stderr.strip()[-300:]}")
        return 1
    want = want_own
    if ref.forced_routing:
        want, _, _ = ref.forward(TOKENS)
        ref.forced_routing = None
    got = np.load(lpath)
    if got.shape != want.shape:
        print(f"FAIL {label}: fast logits {list(got.shape)} vs {list(want.shape)}")
        return 1
    err = float((np.abs(got - want).max(-1) / np.abs(want).max()).max())
    top2 = np.sort(want, -1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]) / np.abs(want).max(-1)
    decisive = gap > FAST_DECISIVE
    agree = got.argmax(-1) == want.argmax(-1)
    lp, lq = log_softmax(want), log_softmax(got)
    kl = float(np.mean(np.sum(np.exp(lp) * (lp - lq), -1)))
    totals["positions"] += int(decisive.sum())
    totals["agree"] += int((agree & decisive).sum())
    totals["kl"].append(kl)
    msg = (f"{label}: fast prefill rel {err:.2g} (< {FAST_LOGIT_TOL:g}) over all positions; "
           f"argmax agrees at {agree.mean():.1%} of all, {agree[decisive].mean() if decisive.any() else 1:.0%} "
           f"of {int(decisive.sum())} decisive; mean KL {kl:.2e}{note}")
    if err >= FAST_LOGIT_TOL:
        print("FAIL " + msg)
        return 1
    print("PASS " + msg)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    r1 = os.path.abspath(a.r1)
    if "generate" not in run([r1, "--help"]).stdout:
        print("SKIP: this r1 has no generate command")
        return 0
    t0 = time.time()
    tmp = None if a.keep else tempfile.TemporaryDirectory(prefix="r1logits-")
    work = a.keep or tmp.name
    os.makedirs(work, exist_ok=True)
    failures = 0
    totals = {"positions": 0, "agree": 0, "kl": []}
    for arch, fmt, typ, seed, extra in CASES:
        name = f"{arch}-{typ}-s{seed}{''.join(e.replace('-', '_') for e in extra)}"
        out = os.path.join(work, name + (".gguf" if fmt == "gguf" else ""))
        p = run([r1, "make-test-model", "--arch", arch, "--format", fmt, "--shape", "tiny",
                 "--type", typ, "--seed", seed, *extra, "-q", out])
        if p.returncode:
            print(f"FAIL {name}: make-test-model: {p.stderr.strip()[-300:]}")
            failures += 1
            continue
        if "--split" in extra:
            n = int(extra[list(extra).index("--split") + 1])
            out = os.path.join(work, f"{name}-00001-of-{n:05d}.gguf")
        label = f"{name} ({fmt})"
        ref = load_model(out)
        logits, _, hidden = ref.forward(TOKENS)
        lpath, mpath = os.path.join(work, name + ".logits.npy"), os.path.join(work, name + ".mtp.npy")
        cmd = [r1, "generate", out, "--tokens", ",".join(map(str, TOKENS)), "-n", str(N_GREEDY),
               "--print-ids", "--ignore-eos", "--dump-logits", lpath]
        if ref.cfg.n_mtp:
            cmd += ["--dump-mtp", mpath]
        p = run(cmd)
        if p.returncode:
            print(f"FAIL {label}: r1 generate: {p.stderr.strip()[-300:]}")
            failures += 1
            continue
        tie = ref.min_routing_margin < TIE
        if typ in FAST_TYPES and fmt == "gguf" and not tie:
            failures += check_fast_prefill(r1, out, logits, ref, label, work, totals)
        if typ.startswith(("Q4_K", "Q6_K")) and not tie:
            failures += check_fast_decode(r1, out, ref, label, work)
        # Greedy continuation: r1's tokens must be the reference's argmax at every step. One
        # reference pass over prompt + continuation checks this (teacher forcing on r1's tokens,
        # which equals the reference's own greedy run while they agree).
        gen = [int(t) for t in p.stdout.split()]
        if len(gen) != N_GREEDY:
            print(f"FAIL {label}: r1 generated {len(gen)} tokens, expected {N_GREEDY}")
            failures += 1
        else:
            full, _, _ = ref.forward(TOKENS + gen[:-1])
            steps = full[len(TOKENS) - 1:]
            want = steps.argmax(-1)
            bad = [i for i in range(N_GREEDY) if want[i] != gen[i]]
            if not bad:
                print(f"PASS {label}: {N_GREEDY}-token greedy continuation identical")
            else:
                i = bad[0]
                top2 = np.sort(steps[i])[-2:]
                gap = float((top2[1] - top2[0]) / np.abs(steps[i]).max())
                if gap < TOL or tie or ref.min_routing_margin < TIE:
                    print(f"NOTE {label}: greedy step {i} differs at a near-tie (gap {gap:.2g}), not counted")
                else:
                    print(f"FAIL {label}: greedy continuation differs at step {i}: r1 {gen[i]}, "
                          f"reference {want[i]} (gap {gap:.2g})")
                    failures += 1
        results = [("logits", np.load(lpath), logits)]
        if ref.cfg.n_mtp:
            results.append(("MTP logits", np.load(mpath), ref.mtp(TOKENS, hidden)))
        for what, got, want in results:
            ok = got.dtype == np.float32 and got.shape == want.shape
            err = float(np.abs(got - want).max() / np.abs(want).max()) if ok else float("inf")
            ok = ok and err < TOL
            same = float(np.mean(got.argmax(-1) == want.argmax(-1))) if got.shape == want.shape else 0.0
            msg = (f"{label}: {what} {list(got.shape)} vs r1ref rel {err:.2g} (< {TOL:g}), "
                   f"argmax agrees {same:.0%}")
            if ok:
                print("PASS " + msg)
            elif tie:
                print(f"NOTE {msg}: routing within {ref.min_routing_margin:.2g} of a tie, not counted")
            else:
                print("FAIL " + msg)
                failures += 1
    if totals["positions"]:
        share = totals["agree"] / totals["positions"]
        msg = (f"fast prefill over {len(totals['kl'])} models: argmax agrees at {share:.2%} of "
               f"{totals['positions']} decisive positions (>= 99 %), mean KL {np.mean(totals['kl']):.2e}, "
               f"max {np.max(totals['kl']):.2e}")
        if share >= 0.99:
            print("PASS " + msg)
        else:
            print("FAIL " + msg)
            failures += 1
    print(f"{failures} failure(s), {time.time() - t0:.1f}s")
    if tmp:
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
