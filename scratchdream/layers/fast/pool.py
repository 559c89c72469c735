"""Fast pooling: the same max, average and adaptive average pooling as layers/pool.py, in Numba.

    x (N, C, H, W) -> y (N, C, Ho, Wo);  window (i, j) covers rows sh·i - pt ... sh·i - pt + kh - 1, clipped
Each kernel runs in parallel over the (n, c) planes (max-pool forward over bands of output rows of
them), whose writes never meet. The max keeps the first maximum in row-major window order (a NaN wins),
separably: the max of each row segment, then of those down the column, in long vectorised loops over a
padded copy of the rows. tests/test_pool.py holds every kernel equal to the reference, ties and NaNs
included.
"""

import numba
import numpy as np
from numba import njit, prange

from ...errors import UserError
from .. import pool as reference
from ..geometry import out_size
from . import checks
from .threads import parallel_if_large

# ---- max pooling ---------------------------------------------------------------------------------
# Separable, on a padded copy of each band of rows, in long flat loops that the compiler vectorises:
#   row pass     rm[h, s] = max_v xp[h, s + v]      for every window start s at unit stride (and its v)
#   column pass  y[i, j] = max_u rm[sh·i - pt + u, sw·j]   over the real rows (and its u·kw + v)
# xp holds the rows with -inf on their left and right: strict '>' never lets padding win, and each window's
# scan starts from its first real pixel, so the first maximum in row-major order is kept (Caffe's and
# PyTorch's '>'); a NaN wins when `nans` says the rows have one (PyTorch). Indices are flat and
# unsigned: Numba then skips its negative-index wrap on every read. The column pass works at unit stride
# too and keeps every sw-th start: at stride 2 the row pass computes twice the windows it needs, in
# vectors, still 2-5x faster than scanning each window alone (a chain of kh·kw dependent comparisons).
BAND = 16  # output rows per task, so its scratch rows stay in cache (pool1 at 1024 px: 2.2 -> 1.3 ns/pixel)


@njit(cache=True)
def _wins(val, best, nans):
    """Does val replace best? Strictly larger, or the first NaN (only looked for when the rows have one)."""
    return (val > best) | (nans & (val != val) & (best == best))


@njit(cache=True)
def _row_pass(xp, rm, ra, H, Wp, Wf, kw, pl, nans):
    """rm[h·Wp + s], ra[...] = the max of padded row h over columns s .. s+kw-1, and its v (first max).
    Starts s < pl begin in the padding: their first real tap is v = pl - s."""
    L = np.uint64(H * Wp)
    for k in range(L):
        rm[k], ra[k] = xp[k], 0
    for h in range(H):
        for s in range(min(pl, Wf)):
            rm[h * Wp + s], ra[h * Wp + s] = xp[h * Wp + pl], pl - s
    for v in range(1, kw):
        for k in range(L):  # the columns past Wf of each row are junk, never read
            val, b = xp[k + np.uint64(v)], rm[k]
            m = _wins(val, b, nans)
            rm[k] = val if m else b
            ra[k] = np.int32(v) if m else ra[k]


@njit(cache=True)
def _column_pass(rm, ra, cm, ca, i, r0, H, Wp, Wf, kh, kw, sh, pt, nans):
    """cm[s], ca[s] = the max of window row i at unit-stride start s over its real rows, and its tap;
    rm holds image rows from r0 on."""
    h0 = i * sh - pt
    hs, he = max(h0, 0), min(h0 + kh, H)
    r, t0 = np.uint64((hs - r0) * Wp), np.int32((hs - h0) * kw)
    for s in range(np.uint64(Wf)):
        cm[s], ca[s] = rm[r + s], t0 + ra[r + s]
    for h in range(hs + 1, he):
        r, t = np.uint64((h - r0) * Wp), np.int32((h - h0) * kw)
        for s in range(np.uint64(Wf)):
            val, b = rm[r + s], cm[s]
            m = _wins(val, b, nans)
            cm[s] = val if m else b
            ca[s] = t + ra[r + s] if m else ca[s]


@njit(cache=True)
def _unit_stride_rows(rm, ra, cb, cab, i0, i1, r0, H, Wp, kh, kw, pt, nans):
    """The column pass of a band when sh = 1: cb[(i - i0)·Wp + s], cab[...] for every output row i of the
    band at once, one flat loop per tap row u (window row i reads image row i - pt + u, so for a fixed u
    the rows the band reads are consecutive)."""
    for i in range(i0, i1):  # each window row's first real image row
        h0 = i - pt
        src, dst, t0 = np.uint64((max(h0, 0) - r0) * Wp), np.uint64((i - i0) * Wp), np.int32(max(-h0, 0) * kw)
        for s in range(np.uint64(Wp)):
            cb[dst + s], cab[dst + s] = rm[src + s], t0 + ra[src + s]
    for u in range(1, kh):
        lo, hi = max(i0, pt - u + 1), min(i1, H + pt - u)  # rows whose tap u is real and past their first
        src, dst, t = np.uint64((lo - pt + u - r0) * Wp), np.uint64((lo - i0) * Wp), np.int32(u * kw)
        for k in range(np.uint64(max(hi - lo, 0) * Wp)):
            val, b = rm[src + k], cb[dst + k]
            m = _wins(val, b, nans)
            cb[dst + k] = val if m else b
            cab[dst + k] = t + ra[src + k] if m else cab[dst + k]


@njit(cache=True)
def _pad_rows(xf, xp, q, r0, r1, H, W, Wp, pl):
    """Copy rows r0 .. r1-1 of plane q into xp's rows 0 .., each after pl columns of padding; True if one
    of them holds a NaN."""
    nans = False
    for h in range(r0, r1):
        src, dst = np.uint64((q * H + h) * W), np.uint64((h - r0) * Wp + pl)
        for w in range(np.uint64(W)):
            v = xf[src + w]
            xp[dst + w] = v
            nans |= v != v
    return nans


@njit(cache=True, parallel=True)
def _maxpool_nb(x, y, arg, geo, threads):
    """Parallel over bands of BAND output rows of each (n, c) plane: a band's scratch rows stay in cache
    however large the picture. One block of bands per task (`threads` of them, numba's thread count: a
    kernel that asks for it itself cannot be cached), each with its own scratch. The copy into the padded
    rows notes whether the band has a NaN, so only such a band looks for one."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    Wf = (Wo - 1) * geo.sw + 1  # window starts at unit stride
    Wp = max(W + geo.pl, Wf + geo.kw - 1)  # a padded row: pl on the left, as far as the last window right
    rows = min((BAND - 1) * geo.sh + geo.kh, H)  # the most image rows a band reads
    xf, yf, af = x.reshape(-1), y.reshape(-1), arg.reshape(-1)
    bands = (Ho + BAND - 1) // BAND
    tasks = N * C * bands
    threads = min(threads, tasks)
    for t in prange(threads):
        xp = np.full(rows * Wp + geo.kw, -np.inf, x.dtype)  # only the real pixels are rewritten per band
        rm, ra = np.empty(rows * Wp, x.dtype), np.empty(rows * Wp, np.int32)
        cm, ca = np.empty(BAND * Wp, x.dtype), np.empty(BAND * Wp, np.int32)
        for task in range(t * tasks // threads, (t + 1) * tasks // threads):
            q, i0 = task // bands, task % bands * BAND
            i1 = min(i0 + BAND, Ho)
            r0, r1 = max(i0 * geo.sh - geo.pt, 0), min((i1 - 1) * geo.sh - geo.pt + geo.kh, H)
            nans = _pad_rows(xf, xp, q, r0, r1, H, W, Wp, geo.pl)
            _row_pass(xp, rm, ra, r1 - r0, Wp, Wf, geo.kw, geo.pl, nans)
            if geo.sh == 1:  # the whole band's column pass at once, row i at (i - i0)·Wp
                _unit_stride_rows(rm, ra, cm, ca, i0, i1, r0, H, Wp, geo.kh, geo.kw, geo.pt, nans)
            for i in range(i0, i1):
                row = np.uint64((i - i0) * Wp if geo.sh == 1 else 0)
                if geo.sh != 1:  # one window row at a time, at the start of cm
                    _column_pass(rm, ra, cm, ca, i, r0, H, Wp, Wf, geo.kh, geo.kw, geo.sh, geo.pt, nans)
                out = np.uint64((q * Ho + i) * Wo)
                for j in range(np.uint64(Wo)):
                    k = row + j * np.uint64(geo.sw)
                    yf[out + j], af[out + j] = cm[k], ca[k]


@njit(cache=True, parallel=True)
def _maxpool_backward_nb(dy, arg, dx, geo):
    """Scatter dy to the winners; parallel over (n, c) planes, whose writes never collide. The winner of
    window (i, j), tap a, lies step[a] = (a // kw)·W + a % kw past the window's corner (a table: no
    division per pixel); corner + step is a real pixel, so the flat index is never negative. Rows of dx
    are zeroed just before the first window that reaches them, so they are still in cache for the adds."""
    N, C, Ho, Wo = dy.shape
    H, W = dx.shape[2], dx.shape[3]
    step = np.empty(geo.kh * geo.kw, np.int64)
    for a in range(geo.kh * geo.kw):
        step[a] = (a // geo.kw) * W + a % geo.kw
    dyf, af, dxf = dy.reshape(-1), arg.reshape(-1), dx.reshape(-1)
    for q in prange(N * C):
        zeroed = 0  # rows 0 .. zeroed-1 of this plane are zero or hold sums
        for i in range(Ho):
            reach = min(i * geo.sh - geo.pt + geo.kh, H)
            dxf[(q * H + zeroed) * W : (q * H + max(reach, zeroed)) * W] = 0.0
            zeroed = max(reach, zeroed)
            corner = (q * H + i * geo.sh - geo.pt) * W - geo.pl
            out = (q * Ho + i) * Wo
            for j in range(Wo):
                k = np.uint64(out + j)
                dxf[np.uint64(corner + j * geo.sw + step[af[k]])] += dyf[k]
        dxf[(q * H + zeroed) * W : (q + 1) * H * W] = 0.0  # rows no window reaches (floor mode)


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
    _maxpool_nb(x, y, arg, geo, numba.get_num_threads())
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
