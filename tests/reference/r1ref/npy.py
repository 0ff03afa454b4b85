"""Thin .npy helpers (NumPy's own format functions)."""
import numpy as np


def save_npy(path, arr):
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)


def load_npy(path):
    return np.load(path, allow_pickle=False)
