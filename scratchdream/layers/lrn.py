"""Local response normalisation across channels (AlexNet, bvlc_googlenet): neighbouring channels compete.

    forward   scale[c] = k + α/n · Σ_{c' = c-⌊n/2⌋}^{c+⌊(n-1)/2⌋} x[c']²   (channels outside 0..C-1 count as 0)
              y[c] = x[c] · scale[c]^-β                        x, y, scale (N, C, H, W); n, α, β, k scalars
    backward  dx[c] = dy[c] · scale[c]^-β - (2αβ/n) · x[c] · Σ_{c' whose window holds c} dy[c'] x[c'] scale[c']^(-β-1)
This is Caffe's ACROSS_CHANNELS formula (α is divided by the window size n) and PyTorch's
local_response_norm; for odd n (Caffe requires it) the window is centred. The cache is x and the
denominator `scale` computed in forward, so backward does not recompute the window sums.
"""

import numpy as np
from numba import njit, prange

from ._threads import parallel_if_large


def _hp(hp):
    return int(hp["size"]), float(hp.get("alpha", 1e-4)), float(hp.get("beta", 0.75)), float(hp.get("k", 1.0))


# ---- math: scale = k + α/n Σ_window x²,  y = x scale^-β ---------------------------------------------
def _window_sum(a, before, after):
    """s[:, c] = Σ_{c' = c-before}^{c+after} a[:, c'] with zero channels outside (plain NumPy)."""
    C = a.shape[1]
    padded = np.concatenate([np.zeros_like(a[:, :before]), a, np.zeros_like(a[:, :after])], axis=1)
    return sum(padded[:, o : o + C] for o in range(before + after + 1))


def _lrn_ref(x, size, alpha, beta, k):
    """(y, scale)."""
    scale = k + alpha / size * _window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale**-beta, scale


def _lrn_backward_ref(dy, x, scale, size, alpha, beta, k):
    t = dy * x * scale ** (-beta - 1)
    # c lies in the window of c' exactly when c' runs from c - (size-1)//2 to c + size//2: the window reversed
    return dy * scale**-beta - (2 * alpha * beta / size) * x * _window_sum(t, (size - 1) // 2, size // 2)


@njit(cache=True)
def _pow_neg(s, beta):
    """s^-β; for β = 3/4 (AlexNet, GoogLeNet) two square roots, several times faster than pow."""
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


# ---- the layer ---------------------------------------------------------------------------------
@parallel_if_large
def lrn_forward(x, hp):
    """x (N, C, H, W), hp {size, alpha, beta, k} -> (y same shape, cache = (x, scale, hp values))."""
    x = np.ascontiguousarray(x)
    size, alpha, beta, k = _hp(hp)
    y, scale = np.empty_like(x), np.empty_like(x)
    _lrn_nb(x, y, scale, size, alpha, beta, k)
    return y, (x, scale, (size, alpha, beta))


@parallel_if_large
def lrn_backward(dy, cache):
    """dy (N, C, H, W) -> dx (N, C, H, W)."""
    x, scale, (size, alpha, beta) = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    dx = np.empty_like(x)
    _lrn_backward_nb(dy, x, scale, dx, size, alpha, beta)
    return dx
