"""Fast clip: the same clip_forward / clip_backward as layers/clip.py, one parallel pass in Numba.

forward   y = min(max(x, lo), hi), mask = lo < x < hi        backward  dx = dy · mask
x, y, mask (N, C, H, W)
"""

import numpy as np
from numba import njit, prange

from . import checks
from .relu import masked_backward
from .threads import parallel_if_large

CHUNK = 1 << 16  # elements per parallel task


@njit(cache=True, parallel=True)
def _clip_nb(x, lo, hi, y, mask):
    """One pass over the flat arrays: y and the mask, in parallel chunks (a NaN becomes lo)."""
    n = x.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            v = x[i]
            m = v > lo and v < hi
            mask[i] = m
            y[i] = v if m else (hi if v >= hi else lo)


@parallel_if_large
def clip_forward(x, lo, hi):
    """x (any shape), lo < hi -> (y same shape, cache = bool mask lo < x < hi)."""
    x = np.ascontiguousarray(x)
    checks.floats("clip", x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    t = x.dtype.type
    _clip_nb(x.reshape(-1), t(lo), t(hi), y.reshape(-1), mask.reshape(-1))
    return y, mask


@parallel_if_large
def clip_backward(dy, cache):
    """dy (shape of y), cache = mask -> dx = dy · mask (ReLU's masked copy, relu.py)."""
    return masked_backward("clip", dy, cache)
