"""Channel concatenation: the join at the end of an Inception module (or a Fire module's expand).

    forward   y = [x_1 | x_2 | ... | x_B] along channels      x_b (N, C_b, H, W) -> y (N, ΣC_b, H, W)
    backward  dx_b = dy[:, off_b : off_b + C_b]               each branch gets back its own slice
The cache is only the channel counts; the branches' own gradients are then summed where they meet
(in `Net.backward`), e.g. at the input shared by all four Inception branches.
"""

import numpy as np
from numba import njit, prange

from ..errors import UserError
from ._threads import parallel_if_large


# ---- math: y[:, off_b + c] = x_b[:, c];  dx_b[:, c] = dy[:, off_b + c] ----------------------------
def _concat_ref(xs):
    return np.concatenate(xs, axis=1)


@njit(cache=True, parallel=True)
def _copy_planes_nb(src, dst, off):
    """dst[n, off + c] = src[n, c] for every (n, c) plane, in parallel (planes never overlap)."""
    N, C = src.shape[0], src.shape[1]
    for q in prange(N * C):
        n, c = q // C, q % C
        dst[n, off + c] = src[n, c]


@njit(cache=True, parallel=True)
def _slice_planes_nb(src, dst, off):
    """dst[n, c] = src[n, off + c]."""
    N, C = dst.shape[0], dst.shape[1]
    for q in prange(N * C):
        n, c = q // C, q % C
        dst[n, c] = src[n, off + c]


def _as_planes(a):
    """(N, C, ...) -> (N, C, rest) view, so one kernel serves (N, C, H, W) and (N, F) inputs."""
    return a.reshape(a.shape[0], a.shape[1], -1)


# ---- the layer ---------------------------------------------------------------------------------
@parallel_if_large
def concat_forward(xs):
    """xs: list of (N, C_b, H, W) -> (y (N, ΣC_b, H, W), cache = list of C_b)."""
    xs = [np.ascontiguousarray(x) for x in xs]
    _check_same(xs)
    dtype = np.result_type(*xs)
    N, rest = xs[0].shape[0], xs[0].shape[2:]
    sizes = [x.shape[1] for x in xs]
    y = np.empty((N, sum(sizes)) + rest, dtype=dtype)
    off = 0
    for x in xs:
        _copy_planes_nb(_as_planes(x.astype(dtype, copy=False)), _as_planes(y), off)
        off += x.shape[1]
    return y, sizes


@parallel_if_large
def concat_backward(dy, cache):
    """dy (N, ΣC_b, H, W) -> [dx_b (N, C_b, H, W) for each branch]."""
    dy = np.ascontiguousarray(dy)
    dxs, off = [], 0
    for C in cache:
        dx = np.empty((dy.shape[0], C) + dy.shape[2:], dtype=dy.dtype)
        _slice_planes_nb(_as_planes(dy), _as_planes(dx), off)
        dxs.append(dx)
        off += C
    return dxs


def concat_shape(in_shapes, hp):
    """[(C_b, H, W)] -> (ΣC_b, H, W); the branches must agree on H and W."""
    rest = {tuple(s[1:]) for s in in_shapes}
    if len(rest) != 1:
        raise UserError(
            f"concat: the branches have different sizes {sorted(rest)}; check their padding and strides"
        )
    return (sum(s[0] for s in in_shapes),) + tuple(in_shapes[0][1:])


def _check_same(xs):
    shapes = {(x.shape[0],) + x.shape[2:] for x in xs}
    if len(shapes) != 1:
        raise UserError(
            f"concat: the branches have different sizes {sorted(shapes)}; check their padding and strides"
        )
