"""Command line: logits of every prompt position, float32 .npy [n_tokens, n_vocab].

  python3 -m r1ref MODEL --tokens 0,5,17 --out logits.npy [--mtp-out mtp.npy]
                   [--mla naive|absorbed] [--mtp-hidden postnorm|prenorm] [--mtp-next-token ID]
                   [--print-config]

MODEL: a .gguf file (any file of a split set) or a safetensors folder / file.
"""
import argparse
import json
import os
import sys

import numpy as np

from .loader import load_model
from .npy import save_npy


def parse_tokens(text):
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad token list {text!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="r1ref", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", type=parse_tokens, required=True, help="comma-separated ids")
    ap.add_argument("--out", required=True, help="logits .npy, float32 [n_tokens, n_vocab]")
    ap.add_argument("--mla", choices=["naive", "absorbed"], default="naive")
    ap.add_argument("--mtp-out", help="MTP draft logits .npy, float32 [n_tokens-1, n_vocab] "
                    "(row i from token i+1 and hidden state i; predicts token i+2)")
    ap.add_argument("--mtp-hidden", choices=["postnorm", "prenorm"], default="postnorm",
                    help="h_i fed to the MTP hnorm: after (default) or before the final norm")
    ap.add_argument("--mtp-next-token", type=int,
                    help="token n (after the prompt): adds MTP row n-1, [n_tokens, n_vocab]")
    ap.add_argument("--no-cache", action="store_true", help="re-read weights on every use")
    ap.add_argument("--trace", metavar="DIR", help="write intermediate values (per layer: "
                    "output, MLA latent and rope key, router logits, experts, weights) as .npy")
    ap.add_argument("--print-config", action="store_true")
    a = ap.parse_args(argv)

    model = load_model(a.model, cache=not a.no_cache)
    if a.trace:
        model.trace = {}
    if a.print_config:
        print(json.dumps(model.cfg.summary(), indent=1, default=str), file=sys.stderr)
    logits, h_pre, h_post = model.forward(a.tokens, a.mla)
    save_npy(a.out, logits.astype(np.float32))
    if a.mtp_out:
        if model.cfg.n_mtp < 1:
            ap.error("the model has no MTP layer")
        hidden = h_post if a.mtp_hidden == "postnorm" else h_pre
        mtp = model.mtp(a.tokens, hidden, a.mtp_next_token, a.mla)
        save_npy(a.mtp_out, mtp.astype(np.float32))
    if a.trace:
        os.makedirs(a.trace, exist_ok=True)
        for key, value in model.trace.items():
            save_npy(os.path.join(a.trace, key + ".npy"), np.asarray(value))
    if model.min_routing_margin < 1e-3:
        print(f"r1ref: warning: an MoE routing decision is within {model.min_routing_margin:.3g} "
              "of a tie; a float32 engine may choose other experts there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
