"""Fast leaky ReLU: the same leaky_relu_forward / leaky_relu_backward as layers/leaky_relu.py, one parallel
pass in Numba.

forward   y = x if x > 0 else alpha·x, mask = x > 0        backward  dx = dy if mask else alpha·dy
x, y, mask (N, C, H, W)
"""

import numpy as np
from numba import njit, prange

from . import checks
from .threads import parallel_if_large

CHUNK = 1 << 16  # elements per parallel task


@njit(cache=True, parallel=True)
def _leaky_relu_nb(x, alpha, y, mask):
    """One pass over the flat arrays: y and the mask, in parallel chunks."""
    n = x.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            v = x[i]
            m = v > 0
            mask[i] = m
            y[i] = v if m else alpha * v


@njit(cache=True, parallel=True)
def _leaky_relu_backward_nb(dy, mask, alpha, dx):
    n = dy.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            dx[i] = dy[i] if mask[i] else alpha * dy[i]


@parallel_if_large
def leaky_relu_forward(x, alpha):
    """x (any shape), alpha -> (y same shape, cache = (bool mask x > 0, alpha))."""
    x = np.ascontiguousarray(x)
    checks.floats("leaky_relu", x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    _leaky_relu_nb(x.reshape(-1), x.dtype.type(alpha), y.reshape(-1), mask.reshape(-1))
    return y, (mask, alpha)


@parallel_if_large
def leaky_relu_backward(dy, cache):
    """dy (shape of y), cache = (mask, alpha) -> dx = dy · (1 where mask, else alpha)."""
    mask, alpha = cache
    dy = np.ascontiguousarray(dy)
    checks.floats("leaky_relu", dy)
    checks.shape("leaky_relu", "dL/dy", dy, mask.shape)
    dx = np.empty_like(dy)
    _leaky_relu_backward_nb(dy.reshape(-1), mask.reshape(-1), dy.dtype.type(alpha), dx.reshape(-1))
    return dx
