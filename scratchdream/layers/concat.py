"""Channel concatenation: the join at the end of an Inception module (or a Fire module's expand).

    forward   y = [x_1 | x_2 | ... | x_B] along channels      x_b (N, C_b, H, W) -> y (N, ΣC_b, H, W)
    backward  dx_b = dy[:, off_b : off_b + C_b]               each branch gets back its own slice
The cache is only the channel counts; the branches' own gradients are then summed where they meet
(in `Net.backward`), e.g. at the input shared by all four Inception branches.
"""

import numpy as np

from ..errors import UserError


def concat_shape(in_shapes):
    """[(C_b, H, W)] -> (ΣC_b, H, W); the branches must agree on H and W."""
    _same_size([tuple(s[1:]) for s in in_shapes])
    return (sum(s[0] for s in in_shapes),) + tuple(in_shapes[0][1:])


def check_inputs(xs):
    """The branches as arrays of one dtype, agreeing on everything but the channel axis."""
    xs = [np.asarray(x) for x in xs]
    _same_size([(x.shape[0],) + x.shape[2:] for x in xs])
    dtype = np.result_type(*xs)
    return [x.astype(dtype, copy=False) for x in xs]


def _same_size(shapes):
    if len(set(shapes)) != 1:
        raise UserError(
            f"concat: the branches have different sizes {sorted(set(shapes))}; "
            "check their padding and strides"
        )


# ---- math: y[:, off_b + c] = x_b[:, c];  dx_b[:, c] = dy[:, off_b + c] ----------------------------
def concat_forward(xs):
    """xs: list of (N, C_b, H, W) -> (y (N, ΣC_b, H, W), cache = list of C_b)."""
    xs = check_inputs(xs)
    return np.concatenate(xs, axis=1), [x.shape[1] for x in xs]


def concat_backward(dy, cache):
    """dy (N, ΣC_b, H, W) -> [dx_b (N, C_b, H, W) for each branch]."""
    offsets = np.cumsum([0] + list(cache))
    return [dy[:, a:b].copy() for a, b in zip(offsets[:-1], offsets[1:])]
