"""Fast pooling: the same max, average and adaptive average pooling as layers/pool.py, in Numba.

    x (N, C, H, W) -> y (N, C, Ho, Wo);  window (i, j) covers rows sh·i - pt ... sh·i - pt + kh - 1, clipped
Each kernel runs in parallel over the (n, c) planes, whose writes never meet. The max keeps the first
maximum in row-major window order (a NaN wins), scanning each window directly (a separable pass, row
maxima then column maxima, was 1.3-1.9x slower: its scratch arrays and second pass cost more than the
comparisons it saves). tests/test_pool.py holds every kernel equal to the reference, ties and NaNs
included.
"""

import numpy as np
from numba import njit, prange

from ...errors import UserError
from .. import pool as reference
from ..geometry import out_size
from . import checks
from .threads import parallel_if_large


# ---- max pooling ---------------------------------------------------------------------------------
# Flat, unsigned indices: x[n, c, h, w] is xf[(q·H + h)·W + w] with q = n·C + c. Numba wraps negative
# indices on every read of a signed index (one test and add per dimension); an unsigned one skips that,
# which makes these loops about 1.3x faster than the same loops on 4-D indices.
@njit(cache=True, parallel=True)
def _maxpool_nb(x, y, arg, geo, nans):
    """Parallel over the (n, c) planes. Each window is scanned in row-major order, u then v, and a later
    tap replaces the best only when strictly larger, so the first maximum is kept (Caffe's and PyTorch's
    '>'). `nans` says whether x has any NaN (which wins, as in PyTorch), so the common case pays nothing
    for that test. The scan starts from the window's first real pixel: padding never wins."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    xf, yf, af = x.reshape(-1), y.reshape(-1), arg.reshape(-1)
    for q in prange(N * C):
        for i in range(Ho):
            h0 = i * geo.sh - geo.pt  # window row u = 0 (may be padding)
            hs, he = max(h0, 0), min(h0 + geo.kh, H)
            for j in range(Wo):
                w0 = j * geo.sw - geo.pl
                ws, we = max(w0, 0), min(w0 + geo.kw, W)
                best = xf[np.uint64((q * H + hs) * W + ws)]
                tap = (hs - h0) * geo.kw + ws - w0
                for h in range(hs, he):
                    row = np.uint64((q * H + h) * W)
                    t0 = (h - h0) * geo.kw - w0  # tap number of pixel (h, w) is t0 + w
                    for w in range(ws, we):
                        val = xf[row + np.uint64(w)]
                        if val > best or (nans and val != val and best == best):
                            best, tap = val, t0 + w
                k = np.uint64((q * Ho + i) * Wo + j)
                yf[k] = best
                af[k] = tap


@njit(cache=True, parallel=True)
def _maxpool_backward_nb(dy, arg, dx, geo):
    """Scatter dy to the winners; parallel over (n, c) planes, whose writes never collide."""
    N, C, Ho, Wo = dy.shape
    H, W = dx.shape[2], dx.shape[3]
    dyf, af, dxf = dy.reshape(-1), arg.reshape(-1), dx.reshape(-1)
    for q in prange(N * C):
        dxf[q * H * W : (q + 1) * H * W] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                k = np.uint64((q * Ho + i) * Wo + j)
                a = np.int64(af[k])
                h, w = i * geo.sh - geo.pt + a // geo.kw, j * geo.sw - geo.pl + a % geo.kw
                dxf[np.uint64((q * H + h) * W + w)] += dyf[k]


def _pool_input(x, geo, layer):
    """x contiguous float (N, C, H, W), the window checked; (x, Ho, Wo)."""
    x = np.ascontiguousarray(x)
    checks.window(geo, layer)
    Ho, Wo = reference.output_hw(x, geo)
    checks.floats(layer, x)
    return x, Ho, Wo


@parallel_if_large
def maxpool_forward(x, geo):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (arg (N, C, Ho, Wo) uint8, x.shape, geo))."""
    x, Ho, Wo = _pool_input(x, geo, "maxpool")
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    arg = np.empty(y.shape, reference.arg_dtype(geo))
    nans = bool(np.isnan(x.sum()))  # a NaN anywhere makes the sum NaN (no temporary array)
    _maxpool_nb(x, y, arg, geo, nans)
    return y, (arg, x.shape, geo)


@parallel_if_large
def maxpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W), zero except at the winners."""
    arg, x_shape, geo = cache
    dy = np.ascontiguousarray(dy)
    checks.window(geo, "maxpool")
    checks.shape("maxpool", "dL/dy", dy, arg.shape)
    checks.shape("maxpool", "the winners", arg, (*x_shape[:2], *out_size(x_shape[2], x_shape[3], geo)))
    dx = np.empty(x_shape, dy.dtype)
    _maxpool_backward_nb(dy, arg, dx, geo)
    return dx


# ---- average pooling -----------------------------------------------------------------------------
@njit(cache=True)
def _cols(v, geo, W, Wo):
    """The output columns j whose window tap v lands inside the image: 0 <= sw·j - pl + v < W."""
    lo = max(0, -((v - geo.pl) // geo.sw))  # ceil((pl - v) / sw)
    hi = min(Wo, (W - 1 + geo.pl - v) // geo.sw + 1)
    return lo, hi


@njit(cache=True, parallel=True)
def _avgpool_nb(x, y, geo, D):
    """Parallel over (n, c) planes; per output row, each tap (u, v) adds into the whole row of windows."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        total = np.empty(Wo, x.dtype)
        for i in range(Ho):
            h0 = i * geo.sh - geo.pt
            total[:] = 0.0
            for h in range(max(h0, 0), min(h0 + geo.kh, H)):
                row = x[n, c, h]
                for v in range(geo.kw):
                    lo, hi = _cols(v, geo, W, Wo)
                    for j in range(lo, hi):
                        total[j] += row[j * geo.sw - geo.pl + v]
            for j in range(Wo):
                y[n, c, i, j] = total[j] / D[i, j]


@njit(cache=True, parallel=True)
def _spread_nb(dy, dx, hs, he, ws, we, D):
    """Backward of both averages: dx[n,c,h,w] += dy[n,c,i,j] / D[i,j] over window (i, j)'s real pixels,
    rows hs[i]..he[i]-1 and columns ws[j]..we[j]-1; parallel over (n, c) planes."""
    N, C = dx.shape[0], dx.shape[1]
    Ho, Wo = dy.shape[2], dy.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        dx[n, c] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                share = dy[n, c, i, j] / D[i, j]
                for h in range(hs[i], he[i]):
                    for w in range(ws[j], we[j]):
                        dx[n, c, h, w] += share


def _clipped(n, s, p, k, size):
    """(starts, ends) of n windows of k pixels, window i starting at s·i - p, clipped to 0..size."""
    start = s * np.arange(n, dtype=np.int64) - p
    return np.maximum(start, 0), np.minimum(start + k, size)


@parallel_if_large
def avgpool_forward(x, geo, count_pad=True):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (x.shape, geo, count_pad))."""
    x, Ho, Wo = _pool_input(x, geo, "avgpool")
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    _avgpool_nb(x, y, geo, reference.divisor(geo, x.shape[2], x.shape[3], Ho, Wo, count_pad))
    return y, (x.shape, geo, bool(count_pad))


@parallel_if_large
def avgpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W)."""
    x_shape, geo, count_pad = cache
    dy = np.ascontiguousarray(dy)
    checks.window(geo, "avgpool")
    checks.shape("avgpool", "dL/dy", dy, (*x_shape[:2], *out_size(x_shape[2], x_shape[3], geo)))
    (H, W), (Ho, Wo) = x_shape[2:], dy.shape[2:]
    rows, cols = _clipped(Ho, geo.sh, geo.pt, geo.kh, H), _clipped(Wo, geo.sw, geo.pl, geo.kw, W)
    dx = np.empty(x_shape, dy.dtype)
    _spread_nb(dy, dx, *rows, *cols, reference.divisor(geo, H, W, Ho, Wo, count_pad))
    return dx


# ---- adaptive average pooling --------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _adaptive_nb(x, y, hs, he, ws, we):
    N, C = x.shape[0], x.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        for i in range(Ho):
            for j in range(Wo):
                total = x[n, c, 0, 0] * 0
                for h in range(hs[i], he[i]):
                    for w in range(ws[j], we[j]):
                        total += x[n, c, h, w]
                y[n, c, i, j] = total / ((he[i] - hs[i]) * (we[j] - ws[j]))


def _adaptive_bins(x_shape, size):
    """PyTorch's bins (reference.bins) for an (oh, ow) output of x_shape; both sides must be >= 1."""
    checks.output("adaptive_avgpool", *size)
    if len(x_shape) != 4 or min(x_shape[2:]) < 1:
        raise UserError(f"adaptive_avgpool takes a non-empty (N, C, H, W) input, got shape {x_shape}")
    return (*reference.bins(x_shape[2], size[0]), *reference.bins(x_shape[3], size[1]))


@parallel_if_large
def adaptive_avgpool_forward(x, size):
    """x (N, C, H, W), size (oh, ow) -> (y (N, C, oh, ow), cache = x.shape)."""
    x = np.ascontiguousarray(x)
    checks.floats("adaptive_avgpool", x)
    edges = _adaptive_bins(x.shape, size)
    y = np.empty(x.shape[:2] + tuple(size), x.dtype)
    _adaptive_nb(x, y, *edges)
    return y, x.shape


@parallel_if_large
def adaptive_avgpool_backward(dy, cache):
    """dy (N, C, oh, ow) -> dx (N, C, H, W)."""
    x_shape = cache
    dy = np.ascontiguousarray(dy)
    hs, he, ws, we = _adaptive_bins(x_shape, dy.shape[2:])
    checks.shape("adaptive_avgpool", "dL/dy", dy, (*x_shape[:2], *dy.shape[2:]))
    dx = np.empty(x_shape, dy.dtype)
    _spread_nb(dy, dx, hs, he, ws, we, np.outer(he - hs, we - ws))  # D: each bin's area
    return dx
