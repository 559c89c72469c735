"""Batch normalisation in inference form: a per-channel scale and shift (torchvision GoogLeNet, Keras
InceptionV3).

At inference the running statistics are constants, so BN is affine per channel:
    bn_fold   scale = γ / sqrt(var + ε),  shift = β - mean · scale
    forward   y[n,c] = x[n,c] · scale[c] + shift[c]          x, y (N, C, H, W) (or (N, C)); scale, shift (C,)
    backward  dx = dy · scale[c];  dscale[c] = Σ_n,h,w dy · x;  dshift[c] = Σ_n,h,w dy
After a convolution the affine map folds into it (`fold_into_conv`): w'[k] = w[k] · scale[k],
b'[k] = b[k] · scale[k] + shift[k], so converted nets usually carry no batchnorm layer at all.
Parameters in the weights file: "weight" = scale, "bias" = shift (not γ, β).
"""

import numpy as np


# ---- folding the running statistics -------------------------------------------------------------
def bn_fold(gamma, beta, mean, var, eps):
    """(γ, β, running mean, running var, ε) -> (scale, shift), all (C,), in float64 (rounded once, when
    stored)."""
    gamma, beta, mean, var = (np.asarray(a, np.float64) for a in (gamma, beta, mean, var))
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def fold_into_conv(w, b, scale, shift):
    """conv (w (K, C/g, kh, kw), b (K,) or None) followed by BN (scale, shift) -> one conv (w', b')."""
    scale = np.asarray(scale, np.float64)
    w2 = np.asarray(w, np.float64) * scale[:, None, None, None]
    b0 = np.zeros(len(scale)) if b is None else np.asarray(b, np.float64)
    return w2.astype(np.float32), (b0 * scale + np.asarray(shift, np.float64)).astype(np.float32)


def batchnorm_params(in_shape):
    """{"weight": (C,), "bias": (C,)}: the folded scale and shift."""
    return {"weight": (int(in_shape[0]),), "bias": (int(in_shape[0]),)}


def per_channel(a, ndim):
    """a (C,) shaped to broadcast along axis 1 of an ndim-array: (1, C, 1, 1) for (N, C, H, W)."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


# ---- math: y[n,c] = x[n,c] · scale[c] + shift[c] -------------------------------------------------
def batchnorm_forward(x, scale, shift):
    """x (N, C, H, W), scale (C,), shift (C,) -> (y same shape, cache = (x, scale))."""
    x = np.asarray(x)
    scale, shift = scale.astype(x.dtype, copy=False), shift.astype(x.dtype, copy=False)
    return x * per_channel(scale, x.ndim) + per_channel(shift, x.ndim), (x, scale)


def batchnorm_backward(dy, cache, params=False):
    """dy (N, C, H, W) -> dx [, {"weight": dscale (C,), "bias": dshift (C,)}]."""
    x, scale = cache
    dx = dy * per_channel(scale, x.ndim)
    if not params:
        return dx
    axes = (0,) + tuple(range(2, x.ndim))  # all but the channels
    return dx, {"weight": np.sum(dy * x, axis=axes), "bias": np.sum(dy, axis=axes)}
