"""Fast concatenation: the same concat_forward / concat_backward as layers/concat.py, plane copies in Numba.

forward   y = [x_1 | ... | x_B] along channels      x_b (N, C_b, H, W) -> y (N, ΣC_b, H, W)
backward  dx_b = dy[:, off_b : off_b + C_b]
"""

import numpy as np
from numba import njit, prange

from ...errors import UserError
from .. import concat as reference
from . import checks
from .threads import parallel_if_large


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


@parallel_if_large
def concat_forward(xs):
    """xs: list of (N, C_b, H, W) -> (y (N, ΣC_b, H, W), cache = list of C_b)."""
    xs = [np.ascontiguousarray(x) for x in reference.check_inputs(xs)]
    checks.floats("concat", *xs)
    sizes = [x.shape[1] for x in xs]
    y = np.empty((xs[0].shape[0], sum(sizes)) + xs[0].shape[2:], dtype=xs[0].dtype)
    off = 0
    for x in xs:
        _copy_planes_nb(_as_planes(x), _as_planes(y), off)
        off += x.shape[1]
    return y, sizes


@parallel_if_large
def concat_backward(dy, cache):
    """dy (N, ΣC_b, H, W) -> [dx_b (N, C_b, H, W) for each branch]."""
    dy = np.ascontiguousarray(dy)
    if dy.ndim < 2 or dy.shape[1] != sum(cache):
        raise UserError(f"concat: dL/dy has shape {dy.shape}, the kernel needs {sum(cache)} channels")
    dxs, off = [], 0
    for C in cache:
        dx = np.empty((dy.shape[0], C) + dy.shape[2:], dtype=dy.dtype)
        _slice_planes_nb(_as_planes(dy), _as_planes(dx), off)
        dxs.append(dx)
        off += C
    return dxs
