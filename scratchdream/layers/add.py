"""Elementwise sum: the join at the end of a residual block (ResNet's y = F(x) + x).

    forward   y = x_1 + x_2 + ... + x_B                   x_b (N, C, H, W), all one shape -> y (N, C, H, W)
    backward  dx_b = dy                                   a sum passes its gradient to every term unchanged
The cache is only the number of terms. Where a term's input also feeds the residual branch (the identity
shortcut), `Net.backward` adds the two gradients coming back, as it does at an Inception module's input.
One NumPy pass is already the fast path, so both kernel sets (reference and fast) use this module.
"""

import numpy as np

from ..errors import UserError


def add_shape(in_shapes):
    """[(C, H, W)] -> (C, H, W); every term must have the same shape."""
    _same_shape([tuple(s) for s in in_shapes])
    return tuple(in_shapes[0])


def _same_shape(shapes):
    if len(set(shapes)) != 1:
        raise UserError(
            f"add: the terms have different shapes {sorted(set(shapes))}; "
            "check the shortcut's stride and channel count"
        )


# ---- math: y = Σ_b x_b;  dL/dx_b = dL/dy ----------------------------------------------------------------
def add_forward(xs):
    """xs: list of arrays of one shape (N, C, H, W) -> (y same shape, cache = number of terms)."""
    xs = [np.asarray(x) for x in xs]
    _same_shape([x.shape for x in xs])
    y = xs[0].astype(np.result_type(*xs), copy=True)
    for x in xs[1:]:
        y += x
    return y, len(xs)


def add_backward(dy, cache):
    """dy (N, C, H, W) -> [dx_b = dy for each of the cache's terms], fresh arrays."""
    return [dy.copy() for _ in range(cache)]
