"""Fast concatenation: the same concat_forward / concat_backward as layers/concat.py, without copies back.

forward   y = [x_1 | ... | x_B] along channels      x_b (N, C_b, H, W) -> y (N, ΣC_b, H, W)
backward  dx_b = dy[:, off_b : off_b + C_b]          a view of dy, no copy
Forward is NumPy's concatenate, as in the reference: one memcpy per branch and image, single-threaded,
was 2-6x less CPU time than the Numba plane copies it replaces (one parallel loop per branch, a slice
assignment per plane), 0.17 against 0.5 ms for GoogLeNet's five joins at 224 px. Backward hands each
branch its slice of dy as a view: Net.backward only reads a layer's input gradients (paths that meet add
into a new array), and for one image (N = 1) each slice is already contiguous, so the layer below reads
it without a copy. Whoever writes into a returned gradient writes into dy.
"""

import numpy as np

from ...errors import UserError
from .. import concat as reference
from . import checks


def concat_forward(xs):
    """xs: list of (N, C_b, H, W) -> (y (N, ΣC_b, H, W), cache = list of C_b)."""
    xs = reference.check_inputs(xs)
    checks.floats("concat", *xs)
    return np.concatenate(xs, axis=1), [x.shape[1] for x in xs]


def concat_backward(dy, cache):
    """dy (N, ΣC_b, H, W) -> [dx_b (N, C_b, H, W), views of dy, for each branch]."""
    dy = np.asarray(dy)
    if dy.ndim < 2 or dy.shape[1] != sum(cache):
        raise UserError(f"concat: dL/dy has shape {dy.shape}, the kernel needs {sum(cache)} channels")
    offsets = np.cumsum([0, *cache])
    return [dy[:, a:b] for a, b in zip(offsets[:-1], offsets[1:])]
