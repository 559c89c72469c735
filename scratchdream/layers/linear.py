"""Flatten and the fully connected layer: the classifier at the top of AlexNet, VGG and the toy net.

    flatten   y = x.reshape(N, C·H·W)               backward  dx = dy.reshape(N, C, H, W)
    linear    y = x wᵀ + b                          x (N, In), w (M, In), b (M,) -> y (N, M)
              backward  dx = dy w,  dw = dyᵀ x,  db = Σ_n dy       dy (N, M)
The product is one matrix multiply: the fast path is BLAS (numpy's matmul, multi-threaded), which a
hand-written Numba loop cannot beat; `_linear_ref` spells out the same sum element by element.
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


def flatten_shape(in_shapes, hp):
    return (int(np.prod(in_shapes[0])),)


# ---- math: y[n, m] = b[m] + Σ_i w[m, i] x[n, i] ------------------------------------------------
def _linear_ref(x, w, b):
    """Plain loops over outputs: y[n, m] = b[m] + Σ_i w[m, i] x[n, i]."""
    N, M = x.shape[0], w.shape[0]
    y = np.zeros((N, M), dtype=x.dtype)
    for n in range(N):
        for m in range(M):
            y[n, m] = np.sum(w[m] * x[n]) + (b[m] if b is not None else 0)
    return y


def _linear_fast(x, w, b):
    """The same with one BLAS call."""
    y = x @ w.T
    if b is not None:
        y += b
    return y


# ---- the layer ---------------------------------------------------------------------------------
def linear_forward(x, w, b, hp=None):
    """x (N, In), w (M, In), b (M,) or None -> (y (N, M), cache = (x, w, has_bias))."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        raise UserError(
            f"linear: input has shape {x.shape}, the weights need (N, {w.shape[1]}); "
            "the image size must match the size the classifier was trained at"
        )
    w = w.astype(x.dtype, copy=False)
    b = None if b is None else b.astype(x.dtype, copy=False)
    return _linear_fast(x, w, b), (x, w, b is not None)


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


def linear_shape(in_shapes, hp):
    """(In,) -> (M,) with M = hp["out"]."""
    return (int(hp["out"]),)


def linear_params(in_shapes, hp):
    """{"weight": (M, In), "bias": (M,)} (no bias if hp bias is False)."""
    shapes = {"weight": (int(hp["out"]), int(np.prod(in_shapes[0])))}
    if hp.get("bias", True):
        shapes["bias"] = (int(hp["out"]),)
    return shapes
