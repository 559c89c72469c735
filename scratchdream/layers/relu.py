"""ReLU, the non-linearity after every convolution: h = max(a, 0).

    forward   y = max(x, 0)                    x, y (any shape, usually (N, C, H, W))
    backward  dx = dy · [x > 0]                the kink at 0 passes no gradient (PyTorch's convention)
The cache is the mask [x > 0] as one byte per element (bool), not a copy of x: that is all backward reads.
Convolutions can fuse their ReLU (conv hp relu=True); this module is the stand-alone layer.
"""

import numpy as np
from numba import njit, prange

from ._threads import parallel_if_large


# ---- math: y = max(x, 0);  dL/dx = dL/dy · [x > 0] -----------------------------------------------
def _relu_ref(x):
    """Plain NumPy: (y, mask)."""
    mask = x > 0
    return np.where(mask, x, np.zeros_like(x)), mask


@njit(cache=True, parallel=True)
def _relu_nb(x, y, mask):
    """One pass over the flat arrays: y = max(x, 0) and the mask, in parallel chunks."""
    n = x.size
    chunk = 1 << 16
    for c in prange((n + chunk - 1) // chunk):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            v = x[i]
            m = v > 0
            mask[i] = m
            y[i] = v if m else 0.0


@njit(cache=True, parallel=True)
def _relu_backward_nb(dy, mask, dx):
    n = dy.size
    chunk = 1 << 16
    for c in prange((n + chunk - 1) // chunk):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            dx[i] = dy[i] if mask[i] else 0.0


# ---- the layer ---------------------------------------------------------------------------------
@parallel_if_large
def relu_forward(x):
    """x (any shape) -> (y same shape, cache = bool mask x > 0)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.bool_)
    _relu_nb(x.reshape(-1), y.reshape(-1), mask.reshape(-1))
    return y, mask


@parallel_if_large
def relu_backward(dy, cache):
    """dy (shape of y), cache = mask -> dx = dy · mask."""
    mask = cache
    dy = np.ascontiguousarray(dy)
    dx = np.empty_like(dy)
    _relu_backward_nb(dy.reshape(-1), mask.reshape(-1), dx.reshape(-1))
    return dx
