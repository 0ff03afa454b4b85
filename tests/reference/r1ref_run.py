#!/usr/bin/env python3
"""Run the r1ref reference from anywhere: r1ref_run.py MODEL --tokens 0,5,17 --out logits.npy ..."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from r1ref.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
