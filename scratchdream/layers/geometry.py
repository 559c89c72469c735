"""Window geometry: where each output pixel of a convolution or pooling layer reads its input.

A spec may write a kernel as 3 or [3, 3], and a padding as 1, [rows, columns] or [top, bottom, left,
right]. `nets/graph.py` turns each conv and pooling layer's hyper-parameters into one `Geometry` when the
architecture is read (`conv_geometry`, `pool_geometry`); forward and backward, reference and fast, then
read only that tuple, so conv and pool layers see the same numbers in the same places.

    x (N, C, H, W) -> y (N, K, Ho, Wo);  output pixel (i, j) reads rows s_h·i + d_h·u - p_top, u = 0..kh-1
    floor mode  Ho = (H + p_top + p_bottom - d_h(kh-1) - 1) // s_h + 1           (and likewise Wo)
    ceil mode   Ho = ceil((H + p_top + p_bottom - kh) / s_h) + 1, minus 1 if that last window would start
                past the image (s_h·(Ho-1) >= H + p_top): pooling only; every window keeps a real pixel
The rules checked here (a damaged file must not reach a kernel with them broken): kernel, stride,
dilation and groups >= 1, and 0 <= pad < the kernel's extent d(k-1)+1 on every side. Forward and
backward read the geometry the same way: backward sends each gradient to the pixels forward read.
"""

from typing import NamedTuple

import numpy as np

from ..errors import UserError


class Geometry(NamedTuple):
    """The window of a conv or pooling layer; every field an int (ceil a bool)."""

    kh: int  # kernel height and width
    kw: int
    sh: int  # stride
    sw: int
    pt: int  # padding: top, bottom, left, right
    pb: int
    pl: int
    pr: int
    dh: int = 1  # dilation (1 = none, as in PyTorch and Caffe)
    dw: int = 1
    groups: int = 1  # conv: each group of C/groups inputs makes K/groups outputs
    ceil: bool = False  # pooling: a last, partial window when the stride does not fit (Caffe's rule)


# ---- from a spec's hyper-parameters ------------------------------------------------------------------
def conv_geometry(hp, layer="conv"):
    """A conv layer's hp (kernel, stride=1, pad=0, dilation=1, groups=1) -> a checked Geometry."""
    geo = read_conv(hp, layer)
    check(geo, layer)
    return geo


def pool_geometry(hp, layer="pool"):
    """A pooling layer's hp (kernel, stride=kernel, pad=0, ceil=False) -> a checked Geometry."""
    geo = read_pool(hp, layer)
    check(geo, layer)
    return geo


def read_conv(hp, layer="conv"):
    """A conv layer's hp as a Geometry, its numbers read but not yet checked against the rules."""
    kh, kw = _ints(hp.get("kernel"), 2, "kernel", layer)
    return Geometry(
        kh,
        kw,
        *_ints(hp.get("stride", 1), 2, "stride", layer),
        *_pads(hp.get("pad", 0), layer),
        *_ints(hp.get("dilation", 1), 2, "dilation", layer),
        *_ints(hp.get("groups", 1), 1, "groups", layer),
    )


def read_pool(hp, layer="pool"):
    """A pooling layer's hp as a Geometry, its numbers read but not yet checked against the rules."""
    kernel = _ints(hp.get("kernel"), 2, "kernel", layer)
    stride = kernel if hp.get("stride") is None else _ints(hp["stride"], 2, "stride", layer)
    return Geometry(*kernel, *stride, *_pads(hp.get("pad", 0), layer), ceil=bool(hp.get("ceil", False)))


def as_hp(geo, kind):
    """The geometry as complete spec values: kernel, stride, pad (and dilation, groups / ceil)."""
    hp = {"kernel": [geo.kh, geo.kw], "stride": [geo.sh, geo.sw], "pad": [geo.pt, geo.pb, geo.pl, geo.pr]}
    if kind == "conv":
        return dict(hp, dilation=[geo.dh, geo.dw], groups=geo.groups)
    return dict(hp, ceil=geo.ceil)


def _ints(value, n, field, layer):
    """`value` (one int, or n of them) as a tuple of n ints; a one-line error otherwise."""
    values = [value] * n if np.isscalar(value) and not isinstance(value, str) else value
    try:
        if len(values) != n or not all(float(v) == int(v) for v in values):
            raise ValueError
        return tuple(int(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise UserError(
            f"layer {layer}: {field} {value!r} is not {n} whole number(s); the architecture is damaged"
        ) from None


def _pads(pad, layer):
    """pad as one int, [rows, columns] or [top, bottom, left, right] -> (top, bottom, left, right)."""
    size = 1 if np.isscalar(pad) else len(pad) if isinstance(pad, (list, tuple)) else 0
    if size not in (1, 2, 4):
        raise UserError(f"layer {layer}: pad {pad!r} is not 1, 2 or 4 numbers; the architecture is damaged")
    p = _ints(pad, size, "pad", layer)
    return (p[0],) * 4 if size == 1 else (p[0], p[0], p[1], p[1]) if size == 2 else p


# ---- the rules, and the sizes they give ------------------------------------------------------------
def check(geo, layer):
    """Refuse a geometry no kernel may index by: one line naming the layer and the field."""
    for field, value in (
        ("kh", geo.kh),
        ("kw", geo.kw),
        ("sh", geo.sh),
        ("sw", geo.sw),
        ("dh", geo.dh),
        ("dw", geo.dw),
        ("groups", geo.groups),
    ):
        if value < 1:
            raise UserError(f"layer {layer}: {field} = {value} must be >= 1; the architecture is damaged")
    eh, ew = extent(geo)
    for field, value, limit in (
        ("pt", geo.pt, eh),
        ("pb", geo.pb, eh),
        ("pl", geo.pl, ew),
        ("pr", geo.pr, ew),
    ):
        if not 0 <= value < limit:
            raise UserError(
                f"layer {layer}: padding {field} = {value} must be >= 0 and smaller than the "
                f"kernel's extent {limit}; the architecture is damaged"
            )


def extent(geo):
    """Rows and columns one window spans in the input: d(k-1) + 1."""
    return geo.dh * (geo.kh - 1) + 1, geo.dw * (geo.kw - 1) + 1


def out_size(H, W, geo):
    """(Ho, Wo) for an H x W input (the rules above); 0 along an axis the input is too small for."""
    eh, ew = extent(geo)
    return (
        _windows(H, eh, geo.sh, geo.pt, geo.pb, geo.ceil),
        _windows(W, ew, geo.sw, geo.pl, geo.pr, geo.ceil),
    )


def _windows(size, k, s, p0, p1, ceil):
    span = size + p0 + p1 - k
    if span < 0:
        return 0
    n = (-(-span // s) if ceil else span // s) + 1
    if ceil and (n - 1) * s >= size + p0:
        n -= 1  # the last window would start in the padding: drop it
    return n
