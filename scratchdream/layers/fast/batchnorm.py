"""Fast batchnorm (inference form): the same batchnorm_forward / batchnorm_backward as layers/batchnorm.py.

y[n,c] = x[n,c] · scale[c] + shift[c];  dx = dy · scale[c];  dscale[c] = Σ dy · x,  dshift[c] = Σ dy
x, y (N, C, H, W) (or (N, C)); scale, shift (C,); one (n, c) plane per parallel task.
"""

import numpy as np
from numba import njit, prange

from ...errors import UserError
from . import checks
from .threads import parallel_if_large


@njit(cache=True, parallel=True)
def _affine_nb(x, scale, shift, y):
    """x, y (N, C, S): y = x · scale[c] + shift[c], one (n, c) plane per parallel iteration."""
    N, C, S = x.shape
    for q in prange(N * C):
        n, c = q // C, q % C
        a, b = scale[c], shift[c]
        for s in range(S):
            y[n, c, s] = x[n, c, s] * a + b


@njit(cache=True, parallel=True)
def _param_grads_nb(dy, x, dscale, dshift):
    """dscale[c] = Σ dy·x, dshift[c] = Σ dy over n and s; parallel over channels (each writes its own c)."""
    N, C, S = x.shape
    for c in prange(C):
        gs, gb = 0.0, 0.0
        for n in range(N):
            for s in range(S):
                gs += dy[n, c, s] * x[n, c, s]
                gb += dy[n, c, s]
        dscale[c] = gs
        dshift[c] = gb


def _as3(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


@parallel_if_large
def batchnorm_forward(x, scale, shift):
    """x (N, C, H, W), scale (C,), shift (C,) -> (y same shape, cache = (x, scale))."""
    x = np.ascontiguousarray(x)
    scale = np.ascontiguousarray(scale, dtype=x.dtype)
    shift = np.ascontiguousarray(shift, dtype=x.dtype)
    checks.floats("batchnorm", x, scale, shift)
    if x.ndim < 2:
        raise UserError(f"batchnorm takes (N, C, ...) input, got shape {x.shape}")
    checks.shape("batchnorm", "the scale", scale, (x.shape[1],))
    checks.shape("batchnorm", "the shift", shift, (x.shape[1],))
    y = np.empty_like(x)
    _affine_nb(_as3(x), scale, shift, _as3(y))
    return y, (x, scale)


@parallel_if_large
def batchnorm_backward(dy, cache, params=False):
    """dy (N, C, H, W) -> dx [, {"weight": dscale (C,), "bias": dshift (C,)}]."""
    x, scale = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    checks.shape("batchnorm", "dL/dy", dy, x.shape)
    dx = np.empty_like(dy)
    _affine_nb(_as3(dy), scale, np.zeros_like(scale), _as3(dx))
    if not params:
        return dx
    dscale, dshift = np.empty_like(scale), np.empty_like(scale)
    _param_grads_nb(_as3(dy), _as3(x), dscale, dshift)
    return dx, {"weight": dscale, "bias": dshift}
