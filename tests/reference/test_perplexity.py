#!/usr/bin/env python3
"""`r1 perplexity` against an independent float64 NumPy computation.

For seeded tiny test models (DeepSeek-V3, whose tokenizer adds BOS, and Qwen2, whose does not),
tokenizes a text with `r1 tokenize`, cuts it into windows as documented in `r1 perplexity
--help` (windows of -c tokens, the first token replaced by BOS when the tokenizer adds one, the
logits at positions c/2..c-2 scored against the next token), dumps each window's logits with
`r1 generate --tokens ... -n 0 --dump-logits`, and computes here, in float64: log-softmax,
negative log-likelihood, perplexity and its standard error, and KL(base || model) with its
mean, median, percentiles and top-token agreement. Then checks:

- `r1 perplexity MODEL FILE --json` matches (relative 1e-5: r1 runs a window in two forward
  calls, the dump in one, so the float32 logits may differ in the last bits);
- `--kl-base` the model itself gives KL exactly 0 and full top-token agreement;
- a Q4_0 model against the F32 one with the same weights gives the same KL statistics as the
  NumPy computation, small but positive.

Usage: test_perplexity.py --r1 PATH_TO_R1 [--keep DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

N_CTX = 32
RTOL = 1e-5
# An English-ish text, deterministic, a few hundred tokens with the tiny test vocabulary.
WORDS = ("the model reads a text and predicts every next token of it while the windows slide "
         "over the file one after another so that each scored token sees half a window of "
         "context before it and the perplexity is the exponential of the mean loss").split()


def make_text(n_words):
    rng = np.random.default_rng(7)
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n_words)) + "\n"


def run(cmd, check=True):
    # R1_EXACT=1: float32 activations (the same values whatever the batching of tokens).
    env = dict(os.environ, R1_EXACT="1")
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {p.returncode}: {p.stderr[-500:]}")
    return p


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))


def tokens_of(r1, model, text_path):
    with open(text_path, "rb") as f:
        p = subprocess.run([r1, "tokenize", model, "--ids", "--no-bos", "--no-special"], stdin=f,
                           capture_output=True, text=True, check=True)
    ids = [int(t) for t in p.stdout.split()]
    p = subprocess.run([r1, "tokenize", model, "--ids"], input="", capture_output=True, text=True,
                       check=True)
    bos = [int(t) for t in p.stdout.split()]  # [bos] when the tokenizer adds one, else []
    return ids, (bos[0] if bos else None)


def window_log_probs(r1, model, window, tmp, tag):
    out = os.path.join(tmp, f"{tag}.npy")
    run([r1, "generate", model, "--tokens", ",".join(map(str, window[:-1])), "-n", "0",
         "--dump-logits", out])
    return log_softmax(np.load(out))


def reference(r1, model, base, ids, bos, tmp):
    """float64 NLLs of the model (and base) and per-position KL(base || model), top agreement."""
    first = N_CTX // 2
    nll, base_nll, kl, same = [], [], [], []
    for w in range(len(ids) // N_CTX):
        win = list(ids[w * N_CTX:(w + 1) * N_CTX])
        if bos is not None:
            win[0] = bos
        lq = window_log_probs(r1, model, win, tmp, f"m{w}")
        lp = window_log_probs(r1, base, win, tmp, f"b{w}") if base else None
        for j in range(first, N_CTX - 1):
            nll.append(-lq[j, win[j + 1]])
            if base:
                base_nll.append(-lp[j, win[j + 1]])
                p = np.exp(lp[j])
                kl.append(max(0.0, float(np.sum(np.where(p > 0, p * (lp[j] - lq[j]), 0.0)))))
                same.append(int(np.argmax(lp[j]) == np.argmax(lq[j])))
    return np.array(nll), np.array(base_nll), np.array(kl), np.array(same)


def ppl_stats(nll):
    mean = nll.mean()
    se = np.sqrt(nll.var(ddof=1) / len(nll))
    return np.exp(mean), np.exp(mean) * se, mean


class Checker:
    def __init__(self):
        self.failures = 0

    def close(self, what, got, want, rtol=RTOL, atol=0.0):
        ok = abs(got - want) <= atol + rtol * abs(want)
        print(f"{'ok  ' if ok else 'FAIL'} {what}: r1 {got:.10g}, numpy {want:.10g}")
        self.failures += 0 if ok else 1

    def true(self, what, cond):
        print(f"{'ok  ' if cond else 'FAIL'} {what}")
        self.failures += 0 if cond else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    r1 = a.r1
    if run([r1, "perplexity", "--help"], check=False).returncode != 0:
        print("skip: r1 has no perplexity command")
        return 0
    tmp_obj = None if a.keep else tempfile.TemporaryDirectory(prefix="r1ppl-")
    tmp = a.keep or tmp_obj.name
    os.makedirs(tmp, exist_ok=True)
    text = os.path.join(tmp, "text.txt")
    with open(text, "w") as f:
        f.write(make_text(220))
    c = Checker()
    for arch in ("deepseek_v3", "qwen2"):
        models = {}
        for typ in ("F32", "Q4_0"):
            path = os.path.join(tmp, f"{arch}-{typ}.gguf")
            run([r1, "make-test-model", "--arch", arch, "--format", "gguf", "--shape", "tiny",
                 "--type", typ, "--seed", "3", "-q", path])
            models[typ] = path
        ids, bos = tokens_of(r1, models["F32"], text)
        print(f"{arch}: {len(ids)} tokens, bos {bos}, {len(ids) // N_CTX} windows of {N_CTX}")

        # Perplexity of the F32 model.
        got = json.loads(run([r1, "perplexity", models["F32"], text, "-c", N_CTX, "--json",
                              "-q"]).stdout)
        nll, _, _, _ = reference(r1, models["F32"], None, ids, bos, tmp)
        ppl, ppl_se, mean = ppl_stats(nll)
        c.true(f"{arch}: tokens {got['tokens']} == {len(ids)}", got["tokens"] == len(ids))
        c.true(f"{arch}: scored {got['scored']} == {len(nll)}", got["scored"] == len(nll))
        c.close(f"{arch}: mean NLL", got["mean_nll"], mean)
        c.close(f"{arch}: perplexity", got["perplexity"], ppl)
        c.close(f"{arch}: perplexity standard error", got["perplexity_stderr"], ppl_se, rtol=1e-4)

        # --chunks limits the windows.
        one = json.loads(run([r1, "perplexity", models["F32"], text, "-c", N_CTX, "--chunks", 1,
                              "--json", "-q"]).stdout)
        per = N_CTX - 1 - N_CTX // 2
        c.true(f"{arch}: --chunks 1 scores {one['scored']} == {per}", one["scored"] == per)
        c.close(f"{arch}: --chunks 1 mean NLL", one["mean_nll"], nll[:per].mean())

        # KL of the model against itself: exactly 0.
        self_kl = json.loads(run([r1, "perplexity", models["F32"], text, "-c", N_CTX,
                                  "--kl-base", models["F32"], "--json", "-q"]).stdout)
        k = self_kl["kl"]
        c.true(f"{arch}: self KL mean {k['mean']} max {k['max']} == 0",
               k["mean"] == 0.0 and k["max"] == 0.0)
        c.true(f"{arch}: self top-token agreement {k['same_top']} == 1", k["same_top"] == 1.0)

        # Q4_0 against F32.
        got = json.loads(run([r1, "perplexity", models["Q4_0"], text, "-c", N_CTX, "--kl-base",
                              models["F32"], "--json", "-q"]).stdout)
        nll, base_nll, kl, same = reference(r1, models["Q4_0"], models["F32"], ids, bos, tmp)
        k = got["kl"]
        c.close(f"{arch}: Q4_0 perplexity", got["perplexity"], ppl_stats(nll)[0])
        c.close(f"{arch}: Q4_0 base perplexity", got["base_perplexity"], ppl_stats(base_nll)[0])
        # KL is a small difference of log-probabilities: float32 logits that differ in the last
        # bits move it by ~1e-7 absolute.
        c.close(f"{arch}: Q4_0 KL mean", k["mean"], kl.mean(), rtol=1e-3, atol=1e-7)
        c.close(f"{arch}: Q4_0 KL stderr", k["stderr"], kl.std(ddof=1) / np.sqrt(len(kl)),
                rtol=1e-3, atol=1e-7)
        c.close(f"{arch}: Q4_0 KL median", k["median"], np.quantile(kl, 0.5), rtol=1e-3, atol=1e-7)
        c.close(f"{arch}: Q4_0 KL p99", k["p99"], np.quantile(kl, 0.99), rtol=1e-3, atol=1e-7)
        c.close(f"{arch}: Q4_0 same top token", k["same_top"], same.mean(), rtol=0, atol=0.05)
        c.true(f"{arch}: Q4_0 KL small but positive (0 < {k['mean']:.3g} < 0.2)",
               0 < k["mean"] < 0.2)

    # Errors name the problem.
    p = run([r1, "perplexity", models["F32"], text, "-c", 4096], check=False)
    c.true("a text shorter than one window is refused: " + p.stderr.strip()[-120:],
           p.returncode == 1 and "fewer than one window" in p.stderr)
    p = run([r1, "perplexity", models["F32"], os.path.join(tmp, "missing.txt")], check=False)
    c.true("a missing text file is refused: " + p.stderr.strip()[-120:],
           p.returncode == 1 and "missing.txt" in p.stderr)
    if c.failures:
        print(f"{c.failures} failure(s)")
        return 1
    print("all perplexity checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
