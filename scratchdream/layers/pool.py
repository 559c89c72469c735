"""Pooling: max and average over k×k windows, and adaptive average pooling to a fixed output size.

    max       y[n,c,i,j] = max over the window of x          dx: dy goes to the one position that won
    avg       y[n,c,i,j] = Σ window x / divisor               dx: dy / divisor spread over the window
    adaptive  y[n,c,i,j] = mean of x over PyTorch's bin (i, j)  dx: dy / bin area spread over the bin
    shapes    x (N, C, H, W) -> y (N, C, Ho, Wo)
Window (i, j) covers rows s·i - p_top ... s·i - p_top + k - 1 (and likewise for columns), clipped to the image:
padding never wins a max. Output size (docs/zoo.md, "Pooling and LRN": Caffe and PyTorch agree):
    floor mode  Ho = (H + p_top + p_bottom - kh) // sh + 1
    ceil mode   Ho = ceil((H + p_top + p_bottom - kh) / sh) + 1, minus 1 if that last window would start
                past the image (s·(Ho-1) >= H + p_top): every window holds at least one real pixel.
Max ties go to the first maximum in row-major window order (Caffe's and PyTorch's strict '>').
Average divisor: count_pad=True counts the padding but not the ceil-mode overhang (Caffe, PyTorch
count_include_pad); count_pad=False counts only real pixels (Keras 'same').
Cached for backward: max keeps the winner's index inside its window (u·kw + v) as uint8 (uint16 for
windows above 256 pixels), one small integer per output instead of x; average keeps only the shapes.
"""

import numpy as np
from numba import njit, prange

from ..errors import UserError
from ._threads import parallel_if_large


# ---- geometry -----------------------------------------------------------------------------------
def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)


def _geometry(hp):
    """hp -> (kh, kw, sh, sw, pt, pb, pl, pr); pad may be one int, [ph, pw] or [top, bottom, left, right]."""
    kh, kw = _pair(hp["kernel"])
    sh, sw = _pair(hp.get("stride") or hp["kernel"])
    pad = hp.get("pad", 0)
    pad = [int(pad)] * 4 if np.isscalar(pad) else [int(p) for p in pad]
    if len(pad) == 2:
        pad = [pad[0], pad[0], pad[1], pad[1]]
    pt, pb, pl, pr = pad
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise UserError(
            f"pooling: padding {pad} must be smaller than the kernel {[kh, kw]}; fix the architecture"
        )
    return kh, kw, sh, sw, pt, pb, pl, pr


def _out_size(H, k, s, p0, p1, ceil):
    """Number of windows along one axis (the floor / ceil rule above); 0 if the input is smaller than k."""
    span = H + p0 + p1 - k
    if span < 0:
        return 0
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= H + p0:
        out -= 1  # the last window would start in the padding: drop it
    return out


def pool_shape(in_shapes, hp):
    """(C, H, W) -> (C, Ho, Wo)."""
    C, H, W = in_shapes[0]
    kh, kw, sh, sw, pt, pb, pl, pr = _geometry(hp)
    ceil = bool(hp.get("ceil", False))
    return (C, _out_size(H, kh, sh, pt, pb, ceil), _out_size(W, kw, sw, pl, pr, ceil))


def _output_hw(x, hp):
    _, Ho, Wo = pool_shape([x.shape[1:]], hp)
    if Ho < 1 or Wo < 1:
        raise UserError(
            f"pooling: the input {x.shape[2]}x{x.shape[3]} is smaller than the {hp['kernel']} window; "
            "use a larger image"
        )
    return Ho, Wo


def _arg_dtype(kh, kw):
    return np.uint8 if kh * kw <= 256 else (np.uint16 if kh * kw <= 65536 else np.int64)


# ---- max pooling ---------------------------------------------------------------------------------
# math: y[n,c,i,j] = max_{u,v} x[n,c, sh·i - pt + u, sw·j - pl + v] over real pixels;  dx[winner] += dy[n,c,i,j]
def _maxpool_ref(x, g, Ho, Wo):
    """Plain NumPy, one output position at a time (vectorised over n, c): (y, arg)."""
    kh, kw, sh, sw, pt, pb, pl, pr = g
    N, C, H, W = x.shape
    y = np.empty((N, C, Ho, Wo), x.dtype)
    arg = np.empty((N, C, Ho, Wo), _arg_dtype(kh, kw))
    for i in range(Ho):
        h0 = i * sh - pt
        hs, he = max(h0, 0), min(h0 + kh, H)
        for j in range(Wo):
            w0 = j * sw - pl
            ws, we = max(w0, 0), min(w0 + kw, W)
            win = x[:, :, hs:he, ws:we].reshape(N, C, -1)
            r = np.argmax(win, axis=2)  # numpy returns the first maximum
            y[:, :, i, j] = np.take_along_axis(win, r[:, :, None], 2)[:, :, 0]
            u, v = hs - h0 + r // (we - ws), ws - w0 + r % (we - ws)
            arg[:, :, i, j] = u * kw + v
    return y, arg


def _maxpool_backward_ref(dy, arg, x_shape, g):
    kh, kw, sh, sw, pt, pb, pl, pr = g
    N, C, Ho, Wo = dy.shape
    dx = np.zeros(x_shape, dy.dtype)
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(Ho):
        for j in range(Wo):
            a = arg[:, :, i, j].astype(np.int64)
            np.add.at(dx, (n, c, i * sh - pt + a // kw, j * sw - pl + a % kw), dy[:, :, i, j])
    return dx


@njit(cache=True)
def _maxpool_plane(x, y, arg, kh, kw, sh, sw, pt, pl, nans):
    """One (H, W) plane, separable: first the max of every row segment (first v wins), then the max of
    kh such row maxima down each column (first u wins). Row-major order is u first, then v, so this
    keeps exactly the window's first maximum, in 3 + 3 instead of 3 x 3 comparisons for 3x3.
    A NaN wins (as in PyTorch), so a broken activation cannot hide; `nans` says whether x has any, so
    the common case pays nothing for that test (Numba hoists the invariant flag out of the loop)."""
    H, W = x.shape
    Ho, Wo = y.shape
    rmax = np.empty((H, Wo), x.dtype)  # rmax[h, j]: max of x[h, window j's columns]
    rarg = np.empty((H, Wo), np.int32)  # ... and its column v inside the window
    for h in range(H):
        for j in range(Wo):
            w0 = j * sw - pl
            ws, we = max(w0, 0), min(w0 + kw, W)
            best, bv = x[h, ws], ws - w0
            for w in range(ws + 1, we):
                val = x[h, w]
                if val > best or (nans and val != val and best == best):
                    best, bv = val, w - w0
            rmax[h, j], rarg[h, j] = best, bv
    for i in range(Ho):
        h0 = i * sh - pt
        hs, he = max(h0, 0), min(h0 + kh, H)
        for j in range(Wo):
            best, bu, bv = rmax[hs, j], hs - h0, rarg[hs, j]
            for h in range(hs + 1, he):
                val = rmax[h, j]
                if val > best or (nans and val != val and best == best):
                    best, bu, bv = val, h - h0, rarg[h, j]
            y[i, j] = best
            arg[i, j] = bu * kw + bv


@njit(cache=True, parallel=True)
def _maxpool_nb(x, y, arg, kh, kw, sh, sw, pt, pl, nans):
    """Parallel over (n, c) planes (the plane kernel is a separate function: Numba optimises it better
    outside the parallel loop's body)."""
    N, C = x.shape[0], x.shape[1]
    for q in prange(N * C):
        n, c = q // C, q % C
        _maxpool_plane(x[n, c], y[n, c], arg[n, c], kh, kw, sh, sw, pt, pl, nans)


@njit(cache=True, parallel=True)
def _maxpool_backward_nb(dy, arg, dx, kw, sh, sw, pt, pl):
    """Scatter dy to the winners; parallel over (n, c) planes, whose writes never collide."""
    N, C, Ho, Wo = dy.shape
    for q in prange(N * C):
        n, c = q // C, q % C
        dx[n, c] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                a = np.int64(arg[n, c, i, j])
                dx[n, c, i * sh - pt + a // kw, j * sw - pl + a % kw] += dy[n, c, i, j]


@parallel_if_large
def maxpool_forward(x, hp):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (arg uint8 (N, C, Ho, Wo), x.shape, geometry))."""
    x = np.ascontiguousarray(x)
    g = _geometry(hp)
    Ho, Wo = _output_hw(x, hp)
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    arg = np.empty(y.shape, _arg_dtype(g[0], g[1]))
    kh, kw, sh, sw, pt, pb, pl, pr = g
    nans = bool(np.isnan(x.sum()))  # a NaN anywhere makes the sum NaN (no temporary array)
    _maxpool_nb(x, y, arg, kh, kw, sh, sw, pt, pl, nans)
    return y, (arg, x.shape, g)


@parallel_if_large
def maxpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W), zero except at the winners."""
    arg, x_shape, g = cache
    kh, kw, sh, sw, pt, pb, pl, pr = g
    dy = np.ascontiguousarray(dy)
    dx = np.empty(x_shape, dy.dtype)
    _maxpool_backward_nb(dy, arg, dx, kw, sh, sw, pt, pl)
    return dx


# ---- average pooling -----------------------------------------------------------------------------
# math: y[n,c,i,j] = Σ_window x / D(i,j);  dx[window] += dy[n,c,i,j] / D(i,j)
#   D = (min(h0+kh, H+pb) - h0)·(min(w0+kw, W+pr) - w0) if count_pad else the number of real pixels
def _divisor(h0, w0, kh, kw, H, W, pb, pr, count_pad):
    if count_pad:
        return (min(h0 + kh, H + pb) - h0) * (min(w0 + kw, W + pr) - w0)
    return (min(h0 + kh, H) - max(h0, 0)) * (min(w0 + kw, W) - max(w0, 0))


_divisor_nb = njit(cache=True)(_divisor)


def _avgpool_ref(x, g, Ho, Wo, count_pad):
    kh, kw, sh, sw, pt, pb, pl, pr = g
    N, C, H, W = x.shape
    y = np.empty((N, C, Ho, Wo), x.dtype)
    for i in range(Ho):
        h0 = i * sh - pt
        for j in range(Wo):
            w0 = j * sw - pl
            win = x[:, :, max(h0, 0) : min(h0 + kh, H), max(w0, 0) : min(w0 + kw, W)]
            y[:, :, i, j] = win.sum(axis=(2, 3)) / _divisor(h0, w0, kh, kw, H, W, pb, pr, count_pad)
    return y


def _avgpool_backward_ref(dy, x_shape, g, count_pad):
    kh, kw, sh, sw, pt, pb, pl, pr = g
    N, C, H, W = x_shape
    dx = np.zeros(x_shape, dy.dtype)
    for i in range(dy.shape[2]):
        h0 = i * sh - pt
        for j in range(dy.shape[3]):
            w0 = j * sw - pl
            d = _divisor(h0, w0, kh, kw, H, W, pb, pr, count_pad)
            dx[:, :, max(h0, 0) : min(h0 + kh, H), max(w0, 0) : min(w0 + kw, W)] += (
                dy[:, :, i, j, None, None] / d
            )
    return dx


@njit(cache=True)
def _cols(v, pl, sw, W, Wo):
    """The output columns j whose window tap v lands inside the image: 0 <= sw·j - pl + v < W."""
    lo = max(0, -((v - pl) // sw))  # ceil((pl - v) / sw)
    hi = min(Wo, (W - 1 + pl - v) // sw + 1)
    return lo, hi


@njit(cache=True, parallel=True)
def _avgpool_nb(x, y, kh, kw, sh, sw, pt, pb, pl, pr, count_pad):
    """Parallel over (n, c) planes; per output row, each tap (u, v) adds into the whole row of windows."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        total = np.empty(Wo, x.dtype)
        for i in range(Ho):
            h0 = i * sh - pt
            total[:] = 0.0
            for h in range(max(h0, 0), min(h0 + kh, H)):
                row = x[n, c, h]
                for v in range(kw):
                    lo, hi = _cols(v, pl, sw, W, Wo)
                    for j in range(lo, hi):
                        total[j] += row[j * sw - pl + v]
            for j in range(Wo):
                y[n, c, i, j] = total[j] / _divisor_nb(h0, j * sw - pl, kh, kw, H, W, pb, pr, count_pad)


@njit(cache=True, parallel=True)
def _avgpool_backward_nb(dy, dx, kh, kw, sh, sw, pt, pb, pl, pr, count_pad):
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        dx[n, c] = 0.0
        for i in range(Ho):
            h0 = i * sh - pt
            for j in range(Wo):
                w0 = j * sw - pl
                g = dy[n, c, i, j] / _divisor_nb(h0, w0, kh, kw, H, W, pb, pr, count_pad)
                for h in range(max(h0, 0), min(h0 + kh, H)):
                    for w in range(max(w0, 0), min(w0 + kw, W)):
                        dx[n, c, h, w] += g


@parallel_if_large
def avgpool_forward(x, hp):
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), cache = (x.shape, geometry, count_pad))."""
    x = np.ascontiguousarray(x)
    g = _geometry(hp)
    Ho, Wo = _output_hw(x, hp)
    count_pad = bool(hp.get("count_pad", True))
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    _avgpool_nb(x, y, *g, count_pad)
    return y, (x.shape, g, count_pad)


@parallel_if_large
def avgpool_backward(dy, cache):
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W)."""
    x_shape, g, count_pad = cache
    dy = np.ascontiguousarray(dy)
    dx = np.empty(x_shape, dy.dtype)
    _avgpool_backward_nb(dy, dx, *g, count_pad)
    return dx


# ---- adaptive average pooling --------------------------------------------------------------------
# math: bin i spans rows floor(i·H/Ho) ... ceil((i+1)·H/Ho) - 1 (PyTorch's bins; they may overlap);
#       y = mean over the bin;  dx[bin] += dy / bin area
def _bins(H, Ho):
    starts = np.array([(i * H) // Ho for i in range(Ho)], np.int64)
    ends = np.array([-((-(i + 1) * H) // Ho) for i in range(Ho)], np.int64)
    return starts, ends


def adaptive_shape(in_shapes, hp):
    """(C, H, W) -> (C, oh, ow) with hp size [oh, ow] (or one int for a square)."""
    oh, ow = _pair(hp["size"])
    return (in_shapes[0][0], oh, ow)


def _adaptive_ref(x, Ho, Wo):
    N, C, H, W = x.shape
    (hs, he), (ws, we) = _bins(H, Ho), _bins(W, Wo)
    y = np.empty((N, C, Ho, Wo), x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            y[:, :, i, j] = x[:, :, hs[i] : he[i], ws[j] : we[j]].mean(axis=(2, 3))
    return y


def _adaptive_backward_ref(dy, x_shape):
    N, C, H, W = x_shape
    Ho, Wo = dy.shape[2:]
    (hs, he), (ws, we) = _bins(H, Ho), _bins(W, Wo)
    dx = np.zeros(x_shape, dy.dtype)
    for i in range(Ho):
        for j in range(Wo):
            area = (he[i] - hs[i]) * (we[j] - ws[j])
            dx[:, :, hs[i] : he[i], ws[j] : we[j]] += dy[:, :, i, j, None, None] / area
    return dx


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


@njit(cache=True, parallel=True)
def _adaptive_backward_nb(dy, dx, hs, he, ws, we):
    N, C = dx.shape[0], dx.shape[1]
    Ho, Wo = dy.shape[2], dy.shape[3]
    for q in prange(N * C):
        n, c = q // C, q % C
        dx[n, c] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                g = dy[n, c, i, j] / ((he[i] - hs[i]) * (we[j] - ws[j]))
                for h in range(hs[i], he[i]):
                    for w in range(ws[j], we[j]):
                        dx[n, c, h, w] += g


@parallel_if_large
def adaptive_avgpool_forward(x, hp):
    """x (N, C, H, W) -> (y (N, C, oh, ow), cache = x.shape)."""
    x = np.ascontiguousarray(x)
    _, Ho, Wo = adaptive_shape([x.shape[1:]], hp)
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    _adaptive_nb(x, y, *_bins(x.shape[2], Ho), *_bins(x.shape[3], Wo))
    return y, x.shape


@parallel_if_large
def adaptive_avgpool_backward(dy, cache):
    """dy (N, C, oh, ow) -> dx (N, C, H, W)."""
    x_shape = cache
    dy = np.ascontiguousarray(dy)
    dx = np.empty(x_shape, dy.dtype)
    _adaptive_backward_nb(dy, dx, *_bins(x_shape[2], dy.shape[2]), *_bins(x_shape[3], dy.shape[3]))
    return dx
