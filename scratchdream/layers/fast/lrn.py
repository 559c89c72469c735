"""Fast LRN: the same lrn_forward / lrn_backward as layers/lrn.py, in Numba, parallel over pixel blocks.

    scale[c] = k + α/n · Σ_{c' in the window of c} x[c']²,  y[c] = x[c] · scale[c]^-β
    x, y, scale (N, C, H, W)
Each block of pixels sums its channel windows over a vector of BLOCK pixels; for β = 3/4 (AlexNet,
GoogLeNet) the power is two square roots, several times faster than pow.
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
        r = np.reciprocal(np.sqrt(s))  # stays float32 for float32 s (1.0 / would make it float64)
        return r * np.sqrt(r)
    return s**-beta


BLOCK = 512  # pixels per parallel task: C x BLOCK values of t fit in L2 for C up to a few hundred


# Flat indices: x[n, c, p] (p = h·W + w) is xf[(n·C + c)·P + p], unsigned (Numba then skips its
# negative-index wrap on every read, and the pixel loops vectorise).
@njit(cache=True)
def _blocks(N, P):
    """(tasks, blocks per image): task q covers pixels (q % per)·BLOCK ... of image q // per."""
    per = (P + BLOCK - 1) // BLOCK
    return N * per, per


@njit(cache=True, parallel=True)
def _lrn_nb(x, y, scale, size, a, beta, k):
    """Parallel over blocks of pixels of each image; per channel, the window sum of squares over the block
    (channels c-⌊n/2⌋ .. c+⌊(n-1)/2⌋ in that order, as the reference adds them). a = α/n, β and k come
    in x's dtype, so float32 stays float32 (and the pixel loops vectorise) as in the NumPy reference."""
    N, C = x.shape[0], x.shape[1]
    P = x.shape[2] * x.shape[3]
    xf, yf, sf = x.reshape(-1), y.reshape(-1), scale.reshape(-1)
    before, after = size // 2, (size - 1) // 2
    tasks, per = _blocks(N, P)
    for q in prange(tasks):
        n, p0 = q // per, (q % per) * BLOCK
        B = min(BLOCK, P - p0)
        acc = np.empty(B, x.dtype)
        for c in range(C):
            acc[:] = 0.0
            for c2 in range(max(0, c - before), min(C, c + after + 1)):
                base = np.uint64((n * C + c2) * P + p0)
                for p in range(B):
                    v = xf[base + np.uint64(p)]
                    acc[p] += v * v
            base = np.uint64((n * C + c) * P + p0)
            for p in range(B):
                s = k + a * acc[p]
                sf[base + np.uint64(p)] = s
                yf[base + np.uint64(p)] = xf[base + np.uint64(p)] * _pow_neg(s, beta)


@njit(cache=True, parallel=True)
def _lrn_backward_nb(dy, x, scale, dx, size, f, beta):
    """Parallel over blocks of pixels, as forward: first t[c] = dy x scale^(-β-1) for every channel of the
    block, then dx[c] = dy scale^-β - f x Σ_{c' whose window holds c} t[c'], f = 2αβ/n (f, β in x's dtype)."""
    N, C = x.shape[0], x.shape[1]
    P = x.shape[2] * x.shape[3]
    dyf, xf, sf, dxf = dy.reshape(-1), x.reshape(-1), scale.reshape(-1), dx.reshape(-1)
    before, after = (size - 1) // 2, size // 2  # the reversed window
    tasks, per = _blocks(N, P)
    for q in prange(tasks):
        n, p0 = q // per, (q % per) * BLOCK
        B = min(BLOCK, P - p0)
        t = np.empty((C, B), x.dtype)
        for c in range(C):
            base = np.uint64((n * C + c) * P + p0)
            for p in range(B):
                i = base + np.uint64(p)
                s = sf[i]
                pw = _pow_neg(s, beta)
                t[c, p] = dyf[i] * xf[i] * pw / s
                dxf[i] = dyf[i] * pw
        for c in range(C):
            base = np.uint64((n * C + c) * P + p0)
            for c2 in range(max(0, c - before), min(C, c + after + 1)):
                for p in range(B):
                    i = base + np.uint64(p)
                    dxf[i] -= f * xf[i] * t[c2, p]


@parallel_if_large
def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x (N, C, H, W) -> (y same shape, cache = (x, scale, (size, alpha, beta)))."""
    x, size = np.ascontiguousarray(x), reference.check_size(size)
    checks.floats("lrn", x)
    checks.four_d("lrn", x)
    y, scale = np.empty_like(x), np.empty_like(x)
    real = x.dtype.type
    _lrn_nb(x, y, scale, size, real(alpha / size), real(beta), real(k))
    return y, (x, scale, (size, float(alpha), float(beta)))


@parallel_if_large
def lrn_backward(dy, cache):
    """dy (N, C, H, W) -> dx (N, C, H, W)."""
    x, scale, (size, alpha, beta) = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    checks.shape("lrn", "dL/dy", dy, x.shape)
    dx = np.empty_like(x)
    real = x.dtype.type
    _lrn_backward_nb(dy, x, scale, dx, size, real(2.0 * alpha * beta / size), real(beta))
    return dx
