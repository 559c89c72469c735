"""Preconditions of the Numba kernels, checked once, in Python, before a kernel indexes anything.

Numba does not check array indices (unless NUMBA_BOUNDSCHECK=1, which CI runs once over the layer tests):
a negative padding read from a damaged file, or a gradient of the wrong shape, would make a kernel read or
write outside its arrays. So every kernel entry in layers/fast/ first checks that
    the window obeys geometry.check (kernel, stride, dilation, groups >= 1; 0 <= pad < kernel extent),
    its arrays are C-contiguous float32 or float64, of one dtype and of the shapes the geometry implies,
    and the output has at least one pixel,
and raises a UserError naming the layer and the problem: an `if`, not an `assert` (which python -O drops).
"""

import numpy as np

from ...errors import UserError
from ..geometry import check as _check_geometry


def window(geo, layer):
    """The geometry's rules (layers/geometry.py), again at the kernel's door."""
    _check_geometry(geo, layer)


def floats(layer, *arrays):
    """Each array C-contiguous, float32 or float64, all of the first one's dtype."""
    dtype = arrays[0].dtype
    for a in arrays:
        if a.dtype != dtype or dtype not in (np.float32, np.float64) or not a.flags.c_contiguous:
            raise UserError(
                f"{layer}: the kernel takes C-contiguous float32 or float64 arrays of one dtype, got "
                f"{[(x.dtype.name, x.flags.c_contiguous) for x in arrays]}"
            )


def four_d(layer, x):
    """x is (N, C, H, W)."""
    if x.ndim != 4:
        raise UserError(f"{layer} takes (N, C, H, W) input, got shape {x.shape}")


def shape(layer, what, a, expected):
    """a.shape == expected, or one line naming both."""
    if tuple(a.shape) != tuple(expected):
        raise UserError(f"{layer}: {what} has shape {tuple(a.shape)}, the kernel needs {tuple(expected)}")


def output(layer, Ho, Wo):
    """At least one output pixel."""
    if Ho < 1 or Wo < 1:
        raise UserError(f"{layer}: the output would be {Ho}x{Wo}; the input is too small for the window")
