"""Batch normalisation in inference form: a per-channel scale and shift (torchvision GoogLeNet, Keras InceptionV3).

At inference the running statistics are constants, so BN is affine per channel:
    bn_fold   scale = γ / sqrt(var + ε),  shift = β - mean · scale
    forward   y[n,c] = x[n,c] · scale[c] + shift[c]          x, y (N, C, H, W) (or (N, C)); scale, shift (C,)
    backward  dx = dy · scale[c];  dscale[c] = Σ_n,h,w dy · x;  dshift[c] = Σ_n,h,w dy
After a convolution the affine map folds into it (`fold_into_conv`): w'[k] = w[k] · scale[k],
b'[k] = b[k] · scale[k] + shift[k], so converted nets usually carry no batchnorm layer at all.
Parameters in the weights file: "weight" = scale, "bias" = shift (not γ, β).
"""

import numpy as np
from numba import njit, prange

from ._threads import parallel_if_large


# ---- folding the running statistics -------------------------------------------------------------
def bn_fold(gamma, beta, mean, var, eps):
    """(γ, β, running mean, running var, ε) -> (scale, shift), all (C,), in float64 (rounded once, when stored)."""
    gamma, beta, mean, var = (np.asarray(a, np.float64) for a in (gamma, beta, mean, var))
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def fold_into_conv(w, b, scale, shift):
    """conv (w (K, C/g, kh, kw), b (K,) or None) followed by BN (scale, shift) -> one conv (w', b')."""
    scale = np.asarray(scale, np.float64)
    w2 = np.asarray(w, np.float64) * scale[:, None, None, None]
    b0 = np.zeros(len(scale)) if b is None else np.asarray(b, np.float64)
    return w2.astype(np.float32), (b0 * scale + np.asarray(shift, np.float64)).astype(np.float32)


# ---- math: y[n,c] = x[n,c] · scale[c] + shift[c] -------------------------------------------------
def _batchnorm_ref(x, scale, shift):
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    return x * scale.reshape(bshape) + shift.reshape(bshape)


def _batchnorm_backward_ref(dy, x, scale):
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    return dy * scale.reshape(bshape), np.sum(dy * x, axis=axes), np.sum(dy, axis=axes)


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


# ---- the layer ---------------------------------------------------------------------------------
@parallel_if_large
def batchnorm_forward(x, scale, shift):
    """x (N, C, H, W), scale (C,), shift (C,) -> (y same shape, cache = (x, scale))."""
    x = np.ascontiguousarray(x)
    scale, shift = scale.astype(x.dtype, copy=False), shift.astype(x.dtype, copy=False)
    y = np.empty_like(x)
    _affine_nb(_as3(x), scale, shift, _as3(y))
    return y, (x, scale)


@parallel_if_large
def batchnorm_backward(dy, cache, params=False):
    """dy (N, C, H, W) -> dx [, {"weight": dscale (C,), "bias": dshift (C,)}]."""
    x, scale = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    dx = np.empty_like(dy)
    _affine_nb(_as3(dy), scale, np.zeros_like(scale), _as3(dx))
    if not params:
        return dx
    dscale, dshift = np.empty_like(scale), np.empty_like(scale)
    _param_grads_nb(_as3(dy), _as3(x), dscale, dshift)
    return dx, {"weight": dscale, "bias": dshift}


def batchnorm_params(in_shapes, hp):
    C = int(in_shapes[0][0])
    return {"weight": (C,), "bias": (C,)}
