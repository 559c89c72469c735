"""Fast LRN: the same lrn_forward / lrn_backward as layers/lrn.py, in Numba, parallel over image rows.

    scale[c] = k + α/n · Σ_{c' in the window of c} x[c']²,  y[c] = x[c] · scale[c]^-β
    x, y, scale (N, C, H, W)
Each row of pixels sums its channel windows over a W-vector; for β = 3/4 (AlexNet, GoogLeNet) the power is
two square roots, several times faster than pow.
"""

import numpy as np
from numba import njit, prange

from .. import lrn as reference
from . import checks
from .threads import parallel_if_large


@njit(cache=True)
def _pow_neg(s, beta):
    """s^-β; for β = 3/4 two square roots, several times faster than pow."""
    if beta == 0.75:
        r = 1.0 / np.sqrt(s)
        return r * np.sqrt(r)
    return s**-beta


@njit(cache=True)
def _lrn_row(x, y, scale, h, size, alpha, beta, k):
    """One image row h of one image: x, y, scale (C, H, W); each channel sums its window over a W-vector."""
    C, W = x.shape[0], x.shape[2]
    before, after = size // 2, (size - 1) // 2
    a = alpha / size
    acc = np.empty(W, x.dtype)
    for c in range(C):
        acc[:] = 0.0
        for c2 in range(max(0, c - before), min(C, c + after + 1)):
            for w in range(W):
                v = x[c2, h, w]
                acc[w] += v * v
        for w in range(W):
            s = k + a * acc[w]
            scale[c, h, w] = s
            y[c, h, w] = x[c, h, w] * _pow_neg(s, beta)


@njit(cache=True, parallel=True)
def _lrn_nb(x, y, scale, size, alpha, beta, k):
    """Parallel over image rows (n, h): rows never share an output element."""
    N, H = x.shape[0], x.shape[2]
    for q in prange(N * H):
        n, h = q // H, q % H
        _lrn_row(x[n], y[n], scale[n], h, size, alpha, beta, k)


@njit(cache=True)
def _lrn_backward_row(dy, x, scale, dx, h, size, alpha, beta):
    C, W = x.shape[0], x.shape[2]
    before, after = (size - 1) // 2, size // 2  # the reversed window
    f = 2.0 * alpha * beta / size
    t = np.empty((C, W), x.dtype)  # t[c] = dy x scale^(-β-1) for this row
    for c in range(C):
        for w in range(W):
            s = scale[c, h, w]
            p = _pow_neg(s, beta)
            t[c, w] = dy[c, h, w] * x[c, h, w] * p / s
            dx[c, h, w] = dy[c, h, w] * p
    for c in range(C):
        for c2 in range(max(0, c - before), min(C, c + after + 1)):
            for w in range(W):
                dx[c, h, w] -= f * x[c, h, w] * t[c2, w]


@njit(cache=True, parallel=True)
def _lrn_backward_nb(dy, x, scale, dx, size, alpha, beta):
    N, H = x.shape[0], x.shape[2]
    for q in prange(N * H):
        n, h = q // H, q % H
        _lrn_backward_row(dy[n], x[n], scale[n], dx[n], h, size, alpha, beta)


@parallel_if_large
def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x (N, C, H, W) -> (y same shape, cache = (x, scale, (size, alpha, beta)))."""
    x, size = np.ascontiguousarray(x), reference.check_size(size)
    checks.floats("lrn", x)
    checks.four_d("lrn", x)
    y, scale = np.empty_like(x), np.empty_like(x)
    _lrn_nb(x, y, scale, size, float(alpha), float(beta), float(k))
    return y, (x, scale, (size, float(alpha), float(beta)))


@parallel_if_large
def lrn_backward(dy, cache):
    """dy (N, C, H, W) -> dx (N, C, H, W)."""
    x, scale, (size, alpha, beta) = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    checks.shape("lrn", "dL/dy", dy, x.shape)
    dx = np.empty_like(x)
    _lrn_backward_nb(dy, x, scale, dx, size, alpha, beta)
    return dx
