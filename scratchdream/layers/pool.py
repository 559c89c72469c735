"""Pooling: max and average over kh x kw windows, and adaptive average pooling to a fixed output size.

    max       y[n,c,i,j] = max over the window of x          dx: dy goes to the one position that won
    avg       y[n,c,i,j] = sum over the window of x / D       dx: dy / D spread over the window
    adaptive  y[n,c,i,j] = mean of x over PyTorch's bin (i, j)  dx: dy / bin area spread over the bin
    shapes    x (N, C, H, W) -> y (N, C, Ho, Wo)
Window (i, j) covers rows s·i - p_top ... s·i - p_top + kh - 1 (and likewise for columns), clipped to the
image: padding never wins a max. The output size, floor or ceil mode, is `geometry.out_size` (Caffe and
PyTorch agree; docs/zoo.md). Max ties go to the first maximum in row-major window order (Caffe's and
PyTorch's strict '>'), and a NaN wins (PyTorch), so a broken activation cannot hide.
Average divisor D: count_pad=True counts the padding but not the ceil-mode overhang (Caffe, PyTorch
count_include_pad); count_pad=False counts only real pixels (Keras 'same').
Cached for backward: max keeps the winner's index inside its window (u·kw + v) as uint8 (uint16 for
windows above 256 pixels), one small integer per output instead of x; average keeps only the shapes.

This is the plain NumPy version, one strided view per window tap (u, v) as in conv.py; the Numba kernels
of `layers/fast/pool.py` compute the same, window by window.
"""

import numpy as np

from ..errors import UserError
from .geometry import check as check_geometry
from .geometry import out_size


# ---- sizes (shared with layers/fast/pool.py) --------------------------------------------------------
def pool_shape(in_shape, geo):
    """(C, H, W) -> (C, Ho, Wo)."""
    return (in_shape[0], *out_size(in_shape[1], in_shape[2], geo))


def output_hw(x, geo):
    """(Ho, Wo) for x (N, C, H, W); one line if the window is broken, x is not 4-D or is smaller than it."""
    check_geometry(geo, "pooling")
    if np.ndim(x) != 4:
        raise UserError(f"pooling takes (N, C, H, W) input, got shape {np.shape(x)}")
    Ho, Wo = out_size(x.shape[2], x.shape[3], geo)
    if Ho < 1 or Wo < 1:
        raise UserError(
            f"pooling: the input {x.shape[2]}x{x.shape[3]} is smaller than the {geo.kh}x{geo.kw} window; "
            "use a larger image"
        )
    return Ho, Wo


def arg_dtype(geo):
    """The smallest unsigned integer that numbers every position of a window."""
    return np.uint8 if geo.kh * geo.kw <= 256 else (np.uint16 if geo.kh * geo.kw <= 65536 else np.int64)


# ---- window taps: tap (u, v) of window (i, j) is padded pixel (s·i + u, s·j + v) --------------------
def _padded(x, geo, Ho, Wo):
    """x with zeros around it: the top/left padding, and below/right as far as the last window reaches."""
    bottom = max(0, geo.sh * (Ho - 1) + geo.kh - geo.pt - x.shape[2])
    right = max(0, geo.sw * (Wo - 1) + geo.kw - geo.pl - x.shape[3])
    return np.pad(x, ((0, 0), (0, 0), (geo.pt, bottom), (geo.pl, right)))


def _tap(a, u, v, geo, Ho, Wo):
    """The view a[..., s·i + u, s·j + v] of a padded array, i < Ho, j < Wo (+= writes into a)."""
    return a[..., u : u + geo.sh * (Ho - 1) + 1 : geo.sh, v : v + geo.sw * (Wo - 1) + 1 : geo.sw]


def _unpadded(ap, geo, x_shape):
    return np.ascontiguousarray(ap[:, :, geo.pt : geo.pt + x_shape[2], geo.pl : geo.pl + x_shape[3]])


def _inside(n, s, offset, size):
    """(n,) bool: s·i + offset lies inside 0..size-1, for i < n (is that tap a real pixel?)."""
    m = s * np.arange(n) + offset
    return (m >= 0) & (m < size)


# ---- max pooling ---------------------------------------------------------------------------------
# math: y[n,c,i,j] = max_{u,v} x[n,c, sh·i - pt + u, sw·j - pl + v] over real pixels
#       dx[winner] += dy[n,c,i,j]
def maxpool_forward(x, geo):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (arg (N, C, Ho, Wo) uint8, x.shape, geo))."""
    x = np.asarray(x)
    Ho, Wo = output_hw(x, geo)
    N, C, H, W = x.shape
    xp = _padded(x, geo, Ho, Wo)
    y = np.zeros((N, C, Ho, Wo), x.dtype)
    arg = np.zeros((N, C, Ho, Wo), arg_dtype(geo))
    seen = np.zeros((Ho, Wo), np.bool_)  # has window (i, j) met a real pixel yet?
    for u in range(geo.kh):
        rows = _inside(Ho, geo.sh, u - geo.pt, H)
        for v in range(geo.kw):
            real = rows[:, None] & _inside(Wo, geo.sw, v - geo.pl, W)[None, :]  # (Ho, Wo)
            val = _tap(xp, u, v, geo, Ho, Wo)
            wins = real & (~seen | (val > y) | (np.isnan(val) & ~np.isnan(y)))  # first maximum; NaN wins
            y = np.where(wins, val, y)
            arg[wins] = u * geo.kw + v
            seen |= real
    return y, (arg, x.shape, geo)


def maxpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W), zero except at the winners."""
    arg, x_shape, geo = cache
    Ho, Wo = arg.shape[2:]
    dxp = _padded(np.zeros(x_shape, dy.dtype), geo, Ho, Wo)
    for u in range(geo.kh):
        for v in range(geo.kw):
            dtap = _tap(dxp, u, v, geo, Ho, Wo)
            dtap += np.where(arg == u * geo.kw + v, dy, 0)
    return _unpadded(dxp, geo, x_shape)


# ---- average pooling -----------------------------------------------------------------------------
# math: y[n,c,i,j] = Σ_window x / D(i,j);  dx[window] += dy[n,c,i,j] / D(i,j)
#   D = (min(h0+kh, H+pb) - h0)·(min(w0+kw, W+pr) - w0) if count_pad else the number of real pixels
def divisor(geo, H, W, Ho, Wo, count_pad):
    """D (Ho, Wo) int: the number of pixels each window averages, h0 = sh·i - pt its first row (the fast
    kernels divide by this same table)."""

    def span(n, s, p0, p1, k, size):
        start = s * np.arange(n) - p0
        if count_pad:
            return np.minimum(start + k, size + p1) - start
        return np.minimum(start + k, size) - np.maximum(start, 0)

    return np.outer(span(Ho, geo.sh, geo.pt, geo.pb, geo.kh, H), span(Wo, geo.sw, geo.pl, geo.pr, geo.kw, W))


def avgpool_forward(x, geo, count_pad=True):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (x.shape, geo, count_pad))."""
    x = np.asarray(x)
    Ho, Wo = output_hw(x, geo)
    xp = _padded(x, geo, Ho, Wo)
    total = sum(_tap(xp, u, v, geo, Ho, Wo) for u in range(geo.kh) for v in range(geo.kw))
    D = divisor(geo, x.shape[2], x.shape[3], Ho, Wo, count_pad).astype(x.dtype)
    return total / D, (x.shape, geo, count_pad)


def avgpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W)."""
    x_shape, geo, count_pad = cache
    Ho, Wo = dy.shape[2:]
    share = dy / divisor(geo, x_shape[2], x_shape[3], Ho, Wo, count_pad).astype(dy.dtype)
    dxp = _padded(np.zeros(x_shape, dy.dtype), geo, Ho, Wo)
    for u in range(geo.kh):
        for v in range(geo.kw):
            dtap = _tap(dxp, u, v, geo, Ho, Wo)
            dtap += share
    return _unpadded(dxp, geo, x_shape)


# ---- adaptive average pooling --------------------------------------------------------------------
# math: bin i spans rows floor(i·H/Ho) ... ceil((i+1)·H/Ho) - 1 (PyTorch's bins; they may overlap);
#       y = mean over the bin;  dx[bin] += dy / bin area
def bins(H, Ho):
    """(starts, ends) of the Ho bins over H rows, as int64 arrays."""
    starts = np.array([(i * H) // Ho for i in range(Ho)], np.int64)
    ends = np.array([-((-(i + 1) * H) // Ho) for i in range(Ho)], np.int64)
    return starts, ends


def adaptive_shape(in_shape, size):
    """(C, H, W) -> (C, oh, ow) for size (oh, ow)."""
    return (in_shape[0], int(size[0]), int(size[1]))


def adaptive_avgpool_forward(x, size):
    """x (N, C, H, W), size (oh, ow) -> (y (N, C, oh, ow), cache = x.shape)."""
    x = np.asarray(x)
    N, C, H, W = x.shape
    Ho, Wo = size
    (hs, he), (ws, we) = bins(H, Ho), bins(W, Wo)
    y = np.empty((N, C, Ho, Wo), x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            y[:, :, i, j] = x[:, :, hs[i] : he[i], ws[j] : we[j]].mean(axis=(2, 3))
    return y, x.shape


def adaptive_avgpool_backward(dy, cache):
    """dy (N, C, oh, ow) -> dx (N, C, H, W)."""
    x_shape = cache
    Ho, Wo = dy.shape[2:]
    (hs, he), (ws, we) = bins(x_shape[2], Ho), bins(x_shape[3], Wo)
    dx = np.zeros(x_shape, dy.dtype)
    for i in range(Ho):
        for j in range(Wo):
            area = (he[i] - hs[i]) * (we[j] - ws[j])
            dx[:, :, hs[i] : he[i], ws[j] : we[j]] += dy[:, :, i, j, None, None] / area
    return dx
