"""Flatten and the fully connected layer: the classifier at the top of AlexNet, VGG and the toy net.

    flatten   y = x.reshape(N, C·H·W)               backward  dx = dy.reshape(N, C, H, W)
    linear    y = x wᵀ + b                          x (N, In), w (M, In), b (M,) -> y (N, M)
              backward  dx = dy w,  dw = dyᵀ x,  db = Σ_n dy       dy (N, M)
Each is one NumPy expression: the product runs in BLAS (multi-threaded), which no hand-written Numba
loop beats, so the fast kernel set uses this module as it is.
"""

import numpy as np

from ..errors import UserError


# ---- flatten: a view, nothing to compute ---------------------------------------------------------
def flatten_forward(x):
    """x (N, C, H, W) -> (y (N, C·H·W), cache = x.shape)."""
    x = np.ascontiguousarray(x)
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy, cache):
    """dy (N, C·H·W) -> dx (N, C, H, W)."""
    return np.ascontiguousarray(dy).reshape(cache)


def flatten_shape(in_shape):
    """(C, H, W) -> (C·H·W,)."""
    return (int(np.prod(in_shape)),)


# ---- math: y[n, m] = b[m] + Σ_i w[m, i] x[n, i] ------------------------------------------------
def linear_forward(x, w, b):
    """x (N, In), w (M, In), b (M,) or None -> (y (N, M), cache = (x, w, has_bias))."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        raise UserError(
            f"linear: input has shape {x.shape}, the weights need (N, {w.shape[1]}); "
            "the image size must match the size the classifier was trained at"
        )
    w = w.astype(x.dtype, copy=False)
    y = x @ w.T
    if b is not None:
        y += b.astype(x.dtype, copy=False)
    return y, (x, w, b is not None)


def linear_backward(dy, cache, params=False):
    """dy (N, M) -> dx (N, In) [, {"weight": dw (M, In), "bias": db (M,)}]."""
    x, w, has_bias = cache
    dx = dy @ w
    if not params:
        return dx
    grads = {"weight": dy.T @ x}
    if has_bias:
        grads["bias"] = dy.sum(axis=0)
    return dx, grads


def linear_shape(in_shape, out):
    """(In,) -> (M,) with M = out."""
    return (int(out),)


def linear_params(in_shape, out, bias=True):
    """{"weight": (M, In), "bias": (M,)} (no bias if bias is False)."""
    shapes = {"weight": (int(out), int(np.prod(in_shape)))}
    if bias:
        shapes["bias"] = (int(out),)
    return shapes
