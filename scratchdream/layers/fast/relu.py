"""Fast ReLU: the same relu_forward / relu_backward as layers/relu.py, one parallel pass in Numba.

forward   y = max(x, 0), mask = x > 0        backward  dx = dy · mask        x, y, mask (N, C, H, W)
"""

import numpy as np
from numba import njit, prange

from . import checks
from .threads import parallel_if_large

CHUNK = 1 << 16  # elements per parallel task


@njit(cache=True, parallel=True)
def _relu_nb(x, y, mask):
    """One pass over the flat arrays: y = max(x, 0) and the mask, in parallel chunks."""
    n = x.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            v = x[i]
            m = v > 0
            mask[i] = m
            y[i] = v if m else 0.0


@njit(cache=True, parallel=True)
def _relu_backward_nb(dy, mask, dx):
    n = dy.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            dx[i] = dy[i] if mask[i] else 0.0


@parallel_if_large
def relu_forward(x):
    """x (any shape) -> (y same shape, cache = bool mask x > 0)."""
    x = np.ascontiguousarray(x)
    checks.floats("relu", x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    _relu_nb(x.reshape(-1), y.reshape(-1), mask.reshape(-1))
    return y, mask


@parallel_if_large
def relu_backward(dy, cache):
    """dy (shape of y), cache = mask -> dx = dy · mask."""
    return masked_backward("relu", dy, cache)


def masked_backward(layer, dy, mask):
    """dx = dy where mask, else 0: the backward of every layer whose local slope is 1 or 0 (relu, clip);
    `layer` names it in an error."""
    dy = np.ascontiguousarray(dy)
    checks.floats(layer, dy)
    checks.shape(layer, "dL/dy", dy, mask.shape)
    dx = np.empty_like(dy)
    _relu_backward_nb(dy.reshape(-1), mask.reshape(-1), dx.reshape(-1))
    return dx
