"""Fast convolution: the same conv_forward / conv_backward as layers/conv.py, in Numba and BLAS.

    x (N,C,H,W), w (K,C/g,kh,kw), b (K,) -> y (N,K,Ho,Wo)
    y[n,k,i,j] = b[k] + Σ_c,u,v w[k,c,u,v] x[n,c, s·i+d·u-pt, s·j+d·v-pl]
Three paths, chosen per layer (`path`), all held equal to the reference by tests/test_conv.py:
    winograd  3x3 / 5x5 stride 1 with >= 8 channels: Winograd F(4x4,3x3) (winograd.py) / F(2x2,5x5)
              (winograd5.py), forward and input gradient
    gemm      1x1 stride 1 unpadded: one matrix product per group, no unfolding
    im2col    anything else: unfold every receptive field into a column (`_im2col_nb`), one BLAS product,
              and col2im (`_col2im_nb`, its adjoint) for the input gradient; with FUSED on (off by
              default, see FUSED below), in float32, one group, columns of at least FUSED_MIN_TAPS, fused
              band by band (`_fused_forward_nb`: each task unfolds a band of output rows, runs its own sgemm
              and the bias + ReLU epilogue while the band is in cache; backward likewise)
The products run on Numba's threads (blas.py). A fused ReLU is applied in the same pass that adds the bias,
which also writes its mask; backward reads dy through the mask. Small inputs run on one thread
(threads.py). docs/performance.md has the figures.
"""

import numpy as np
from numba import njit, prange

from .. import conv as reference
from ..geometry import out_size
from . import blas, checks, winograd, winograd5
from .blas import NO_TRANS, ROW_MAJOR, TRANS
from .threads import parallel_if_large

# elements (16 MiB in float32) the im2col buffer may hold; bigger images go in row bands
COLS_BUDGET = 1 << 22
WINOGRAD = True  # 3x3 / 5x5 stride-1 convolutions by Winograd (winograd.py, winograd5.py); False: im2col
WINOGRAD_KERNELS = {3: winograd.KERNELS, 5: winograd5.KERNELS}  # the kernel set per kernel size


# ---- Numba kernels: im2col / col2im over a band of output rows, and the bias + ReLU epilogue ---------
@njit(inline="always")
def _im2col_row(x, cols, geo, i0, i1, Wo, r):
    """Row r = (c*kh+u)*kw+v of cols: cols[r, (i-i0)*Wo+j] = x[c, s*i+d*u-pt, s*j+d*v-pl] (0 outside)."""
    C, H, W = x.shape
    kh, kw = geo.kh, geo.kw
    c, u, v = r // (kh * kw), (r // kw) % kh, r % kw
    for i in range(i0, i1):
        m = geo.sh * i + geo.dh * u - geo.pt
        base = (i - i0) * Wo
        if m < 0 or m >= H:
            cols[r, base : base + Wo] = 0
            continue
        for j in range(Wo):
            col = geo.sw * j + geo.dw * v - geo.pl
            cols[r, base + j] = x[c, m, col] if 0 <= col < W else 0


@njit(parallel=True, cache=True)
def _im2col_nb(x, cols, geo, i0, i1, Wo):
    """cols[(c*kh+u)*kw+v, (i-i0)*Wo+j] = x[c, s*i+d*u-pt, s*j+d*v-pl] (0 outside), for the output rows
    i = i0..i1-1."""
    for r in prange(x.shape[0] * geo.kh * geo.kw):  # each task fills its own row of cols
        _im2col_row(x, cols, geo, i0, i1, Wo, r)


@njit(inline="always")
def _col2im_row(cols, dx, geo, i0, i1, Wo, c, m):
    """dx[c, m, :] += what cols (output rows i0..i1-1) sends to input row m of channel c."""
    W = dx.shape[2]
    kh, kw = geo.kh, geo.kw
    for u in range(kh):
        top = m + geo.pt - geo.dh * u  # = s*i for the output row i that reads x[c, m] by tap u
        if top % geo.sh != 0:
            continue
        i = top // geo.sh
        if i < i0 or i >= i1:
            continue
        base = (i - i0) * Wo
        for v in range(kw):
            r = (c * kh + u) * kw + v
            for j in range(Wo):
                col = geo.sw * j + geo.dw * v - geo.pl
                if 0 <= col < W:
                    dx[c, m, col] += cols[r, base + j]


@njit(parallel=True, cache=True)
def _col2im_nb(cols, dx, geo, i0, i1, Wo):
    """dx[c, s*i+d*u-pt, s*j+d*v-pl] += cols[(c*kh+u)*kw+v, (i-i0)*Wo+j]: the adjoint of _im2col_nb.

    Gathered per input row (c, m), so parallel tasks never add into the same pixel.
    """
    C, H, W = dx.shape
    for cm in prange(C * H):
        _col2im_row(cols, dx, geo, i0, i1, Wo, cm // H, cm % H)


# ---- the same, fused band by band: unfold, sgemm, epilogue in one task while the band is in cache --------
@njit(cache=True)
def _epilogue(yb, b, relu, y2, mask2, p0):
    """y2[k, p0 + p] = yb[k, p] + b[k], then ReLU (mask2 = y2 > 0) if relu: the band's product onto y.
    Loops from 0 over row slices, one loop each way, so that the compiler vectorises them."""
    K, n = yb.shape
    for k in range(K):
        bk, src, dst = b[k], yb[k], y2[k, p0 : p0 + n]
        if relu:
            keep = mask2[k, p0 : p0 + n]
            for p in range(n):
                v = src[p] + bk
                keep[p] = v > 0
                dst[p] = max(v, 0)
        else:
            for p in range(n):
                dst[p] = src[p] + bk


@njit(cache=True)
def _fused_forward_band(sgemm, set_local, x, w2, b, y2, mask2, relu, geo, Wo, i0, i1):
    """One band of _fused_forward_nb: im2col of output rows i0..i1-1, one sgemm into a band buffer (its
    rows n apart: y's own rows, Ho*Wo apart, can alias in the cache), the epilogue onto y2's columns."""
    K, taps = w2.shape
    n = (i1 - i0) * Wo
    cols = np.empty((taps, n), x.dtype)
    for r in range(taps):
        _im2col_row(x, cols, geo, i0, i1, Wo, r)
    yb = np.empty((K, n), x.dtype)
    old = set_local(1)
    sgemm(
        ROW_MAJOR,
        NO_TRANS,
        NO_TRANS,
        K,
        n,
        taps,
        1.0,
        w2.ctypes.data,
        taps,
        cols.ctypes.data,
        n,
        0.0,
        yb.ctypes.data,
        n,
    )
    set_local(old)
    cols[0, 0] = cols[0, 0]  # cols lives until sgemm has read it
    _epilogue(yb, b, relu, y2, mask2, i0 * Wo)


@njit(parallel=True, cache=True)
def _fused_forward_nb(sgemm, set_local, x, w2, b, y2, mask2, relu, geo, Ho, Wo, rows):
    """y2 (K, Ho*Wo) = w2 (K, taps) @ im2col(x) + b, then ReLU (mask2 = y > 0) if relu; one task per band of
    `rows` output rows: its im2col buffer, its sgemm (one thread) and its epilogue stay in a core's cache."""
    for t in prange(-(-Ho // rows)):
        i0 = t * rows
        _fused_forward_band(sgemm, set_local, x, w2, b, y2, mask2, relu, geo, Wo, i0, min(Ho, i0 + rows))


@njit(cache=True)
def _fused_backward_band(sgemm, set_local, dy2, mask2, masked, w2, dx, geo, Wo, i0, i1):
    """One band of _fused_backward_nb: output rows i0..i1-1 of dy2 (masked, copied while in cache), w2^T @
    them by one sgemm, then col2im onto the input rows they read."""
    K, taps = w2.shape
    C, H, W = dx.shape
    n = (i1 - i0) * Wo
    dyb = np.empty((K, n), dy2.dtype)
    zero = dy2.dtype.type(0)
    for k in range(K):
        src, dst = dy2[k, i0 * Wo : i1 * Wo], dyb[k]
        if masked:
            keep = mask2[k, i0 * Wo : i1 * Wo]
            for p in range(n):
                dst[p] = src[p] if keep[p] else zero
        else:
            dst[:] = src
    cols = np.empty((taps, n), dy2.dtype)
    old = set_local(1)
    sgemm(
        ROW_MAJOR,
        TRANS,
        NO_TRANS,
        taps,
        n,
        K,
        1.0,
        w2.ctypes.data,
        taps,
        dyb.ctypes.data,
        n,
        0.0,
        cols.ctypes.data,
        n,
    )
    set_local(old)
    dyb[0, 0] = dyb[0, 0]  # dyb lives until sgemm has read it
    m0 = max(0, geo.sh * i0 - geo.pt)
    m1 = min(H, geo.sh * (i1 - 1) + geo.dh * (geo.kh - 1) - geo.pt + 1)
    for c in range(C):
        for m in range(m0, m1):
            _col2im_row(cols, dx, geo, i0, i1, Wo, c, m)


@njit(parallel=True, cache=True)
def _fused_backward_nb(sgemm, set_local, dy2, mask2, masked, w2, dx, geo, Ho, Wo, rows):
    """dx (C,H,W) += col2im(w2^T @ dy2), dy2 (K, Ho*Wo) read where mask2 if masked; one task per band of
    output rows, as _fused_forward_nb. dx must start at zero. Bands write overlapping input rows, so the
    even bands run first, then the odd ones: bands two apart never touch (_fused_rows)."""
    nb = -(-Ho // rows)
    for parity in range(2):
        for t2 in prange((nb - parity + 1) // 2):
            i0 = (2 * t2 + parity) * rows
            _fused_backward_band(
                sgemm, set_local, dy2, mask2, masked, w2, dx, geo, Wo, i0, min(Ho, i0 + rows)
            )


@njit(parallel=True, cache=True)
def _bias_relu_nb(y, b, relu, mask):
    """y[k, :] += b[k], then y = max(y, 0) and mask = y > 0 if relu; in place, y (K, P)."""
    K, P = y.shape
    for k in prange(K):
        bk = b[k]
        for p in range(P):
            t = y[k, p] + bk
            if relu:
                mask[k, p] = t > 0
                t = max(t, 0)
            y[k, p] = t


@njit(parallel=True, cache=True)
def _mask_nb(dy, mask, out):
    """out = dy where mask else 0: the fused ReLU's backward."""
    K, P = dy.shape
    for k in prange(K):
        for p in range(P):
            out[k, p] = dy[k, p] if mask[k, p] else 0


# ---- the products, group by group and band by band ---------------------------------------------------
FUSED = False  # True: float32 im2col convolutions band by band in one parallel loop (_fused_forward_nb).
# Off: with it on, tests/test_zoo_resnet.py (ResNet-18 float32 dL/dx 5.1e-3 from the float64 truth, torch
# 5.0e-7) and test_recipes.py's guided google2015 dream (1.1% of pixels 2 grey levels off) fail. Neither is a
# fault of the fused path (it matches the unfused one to 4e-7 on every call of both): its different float32
# rounding lands one ReLU input of ResNet's layer2.1, 7.5e-6 below 0, above it, and the unfused path flips
# it as often under 2e-7 input noise; both tests hold float32 to one draw of rounding (docs/performance.md)
FUSED_COLS = 2048  # output columns per task of the fused im2col path (its buffers stay in a core's L2)
# the shortest column (C/g·kh·kw) fused: VGG16's first layer (27) and GoogLeNet's conv1 (147) both run
# 15-30% faster fused, forward + dx, 1 or 2 threads (docs/performance.md, the fused im2col path)
FUSED_MIN_TAPS = 27


def fused(geo, C, K, dtype):
    """Whether a conv takes the fused im2col path: float32 with OpenBLAS's sgemm found, one group, im2col,
    columns of at least FUSED_MIN_TAPS."""
    return (
        FUSED
        and blas.SGEMM is not None
        and dtype == np.float32
        and geo.groups == 1
        and C * geo.kh * geo.kw >= FUSED_MIN_TAPS
        and path(geo, C, K) == "im2col"
    )


def _fused_rows(geo, Ho, Wo):
    """Output rows per band of the fused path: about FUSED_COLS columns, at most a quarter of the rows (two
    bands per thread on 2 cores). Band t reads input rows s*i0 - pt .. s*(i0 + rows - 1) + d(kh-1) - pt,
    band t + 2 starts at s*(i0 + 2 rows) - pt: they never write the same input rows (_fused_backward_nb)
    when s*(rows + 1) > d(kh-1), i.e. rows >= d(kh-1)//s."""
    return max(geo.dh * (geo.kh - 1) // geo.sh, 1, min(-(-FUSED_COLS // Wo), -(-Ho // 4)))


def path(geo, C, K):
    """Which fast path a conv of C inputs and K outputs takes: "winograd", "gemm" or "im2col"."""
    if WINOGRAD and winograd.applies(geo, C, K):
        return "winograd"
    pointwise = (geo.kh, geo.kw, geo.sh, geo.sw, geo.pt, geo.pb, geo.pl, geo.pr) == (1, 1, 1, 1, 0, 0, 0, 0)
    return "gemm" if pointwise else "im2col"


def _bands(Ho, Wo, rows_of_cols):
    """Split output rows 0..Ho into bands whose im2col buffer stays under COLS_BUDGET elements."""
    step = max(1, min(Ho, COLS_BUDGET // max(1, rows_of_cols * Wo)))
    return [(i0, min(Ho, i0 + step)) for i0 in range(0, Ho, step)]


def _groups(a, g):
    """(g, rows/g, ...) view of a (rows, ...): one slice per group."""
    return a.reshape(g, a.shape[0] // g, *a.shape[1:])


def _blocks(a, b, geo):
    """The loop every product below runs, written once: for each picture n and group q, and for each band
    of output rows (one im2col buffer of at most COLS_BUDGET elements, reused band after band), yield
    (q, a_q, b_q, band, cols). a is the input side (N,C,H,W) (x or dx), b the output side (N,K,Ho,Wo) (y or
    dy); a_q (C/g,H,W) and b_q (K/g,Ho·Wo) are views of group q of picture n; band is (i0, i1, Wo), the
    output rows i0..i1 (b_q's columns i0·Wo..i1·Wo), with cols the buffer for them: (C/g·kh·kw, (i1-i0)·Wo).
    A 1x1 stride-1 conv needs no unfolding: a_q itself is the column matrix, band and cols are None."""
    N, C = a.shape[:2]
    K, Ho, Wo = b.shape[1:]
    taps = (C // geo.groups) * geo.kh * geo.kw  # one column's length
    gemm = path(geo, C, K) == "gemm"
    bands = _bands(Ho, Wo, taps)
    cols = None if gemm else np.empty((taps, (bands[0][1] - bands[0][0]) * Wo), a.dtype)
    for n in range(N):
        a_n, b_n = _groups(a[n], geo.groups), _groups(b[n].reshape(K, Ho * Wo), geo.groups)
        for q in range(geo.groups):
            if gemm:
                yield q, a_n[q], b_n[q], None, None
                continue
            for i0, i1 in bands:
                yield q, a_n[q], b_n[q], (i0, i1, Wo), cols[:, : (i1 - i0) * Wo]


def _rows(band):
    """b_q's columns that hold output rows i0..i1."""
    i0, i1, Wo = band
    return slice(i0 * Wo, i1 * Wo)


def _gemm_forward(x, w, y, geo):
    """y[n] = W_q @ im2col(x[n]) for each group q, band by band (no bias, no ReLU)."""
    w_q = w.reshape(geo.groups, w.shape[0] // geo.groups, -1)
    for q, x_q, y_q, band, cols in _blocks(x, y, geo):
        if band is None:
            blas.matmul(w_q[q], x_q.reshape(len(x_q), -1), y_q)
        else:
            _im2col_nb(x_q, cols, geo, *band)
            blas.matmul(w_q[q], cols, y_q[:, _rows(band)])


def _gemm_backward_input(dy, w, dx, geo):
    """dx[n] = col2im(W_q^T @ dy[n]) for each group q, band by band."""
    w_q = w.reshape(geo.groups, w.shape[0] // geo.groups, -1)
    for q, dx_q, dy_q, band, cols in _blocks(dx, dy, geo):
        if band is None:
            blas.matmul(w_q[q], dy_q, dx_q.reshape(len(dx_q), -1), trans_a=True)
        else:
            blas.matmul(w_q[q], dy_q[:, _rows(band)], cols, trans_a=True)
            _col2im_nb(cols, dx_q, geo, *band)


def _gemm_backward_weight(dy, x, geo, w_shape):
    """dW_q = sum_n dy[n]_q @ im2col(x[n])^T, band by band (training only: NumPy's matmul is fine)."""
    dw_q = np.zeros((geo.groups, w_shape[0] // geo.groups, int(np.prod(w_shape[1:]))), x.dtype)
    for q, x_q, dy_q, band, cols in _blocks(x, dy, geo):
        if band is None:
            dw_q[q] += dy_q @ x_q.reshape(len(x_q), -1).T
        else:
            _im2col_nb(x_q, cols, geo, *band)
            dw_q[q] += dy_q[:, _rows(band)] @ cols.T
    return dw_q.reshape(w_shape)


def _bias_relu(y, b, relu):
    """y += b, then ReLU if relu, in place: returns the mask (bool, y > 0) or None."""
    N, K, Ho, Wo = y.shape
    mask = np.empty((N, K, Ho, Wo), np.bool_) if relu else None
    if relu or b is not None:
        bias = b if b is not None else np.zeros(K, y.dtype)
        dummy = np.empty((1, 1), np.bool_)
        for n in range(N):
            _bias_relu_nb(
                y[n].reshape(K, Ho * Wo), bias, relu, mask[n].reshape(K, Ho * Wo) if relu else dummy
            )
    return mask


def _fused_forward(x, w, b, geo, relu):
    """y, mask of an im2col conv by _fused_forward_nb, picture by picture."""
    N, C, H, W = x.shape
    K = w.shape[0]
    Ho, Wo = out_size(H, W, geo)
    rows = _fused_rows(geo, Ho, Wo)
    y = np.empty((N, K, Ho, Wo), x.dtype)
    mask = np.empty((N, K, Ho, Wo), np.bool_) if relu else np.empty((1, 1, 1, 1), np.bool_)
    bias = b if b is not None else np.zeros(K, x.dtype)
    w2 = w.reshape(K, -1)
    for n in range(N):
        m2 = mask[n if relu else 0].reshape(mask.shape[1], -1)
        blas.one_thread_each(
            _fused_forward_nb,
            blas.SGEMM,
            blas.SET_LOCAL_THREADS,
            x[n],
            w2,
            bias,
            y[n].reshape(K, -1),
            m2,
            relu,
            geo,
            Ho,
            Wo,
            rows,
        )
    return y, (mask if relu else None)


def _fused_backward(dy, w, geo, x_shape, mask):
    """dx of an im2col conv by _fused_backward_nb, picture by picture (mask: the fused ReLU's, or None)."""
    N, K, Ho, Wo = dy.shape
    rows = _fused_rows(geo, Ho, Wo)
    dx = np.zeros(x_shape, dy.dtype)
    w2 = w.reshape(K, -1)
    no_mask = np.empty((1, 1), np.bool_)
    for n in range(N):
        m2 = no_mask if mask is None else mask[n].reshape(K, -1)
        blas.one_thread_each(
            _fused_backward_nb,
            blas.SGEMM,
            blas.SET_LOCAL_THREADS,
            dy[n].reshape(K, -1),
            m2,
            mask is not None,
            w2,
            dx[n],
            geo,
            Ho,
            Wo,
            rows,
        )
    return dx


# ---- forward and backward: the reference's signatures ------------------------------------------------
@parallel_if_large
def conv_forward(x, w, b, geo, relu=False):
    """x (N,C,H,W), w (K,C/g,kh,kw), b (K,) or None -> y (N,K,Ho,Wo), cache. Output is max(y, 0) if relu."""
    x, w, b = reference.as_inputs(x, w, b, geo)  # the reference's dtypes and checks, the window's included
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    b = None if b is None else np.ascontiguousarray(b)
    N, C, H, W = x.shape
    K = w.shape[0]
    U = None  # Winograd's transformed weights, when the layer is small enough to keep them for backward
    if path(geo, C, K) == "winograd":
        kernels = WINOGRAD_KERNELS[geo.kh]
        U = winograd.kept_weights(kernels, w, N, *out_size(H, W, geo))
        y, mask = winograd.forward(kernels, x, w, geo, b, relu, U)
    elif fused(geo, C, K, x.dtype):
        y, mask = _fused_forward(x, w, b, geo, relu)
    else:
        y = np.empty((N, K, *out_size(H, W, geo)), x.dtype)
        _gemm_forward(x, w, y, geo)
        mask = _bias_relu(y, b, relu)
    return y, (x, w, b is not None, geo, mask, U)  # mask: bool (N,K,Ho,Wo), y > 0, when the ReLU is fused


input_only = reference.input_only  # the cache without x: enough for dx (the graph's dream forward)


@parallel_if_large
def conv_backward(dy, cache, params=False):
    """dy (N,K,Ho,Wo) -> dx (N,C,H,W); with params=True -> (dx, {"weight": dw, "bias": db})."""
    x, w, has_bias, geo, mask, *kept = cache  # x: the input, or its reference.Shape (reference.input_only)
    reference.needs_input(x, params)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    checks.window(geo, "conv")
    checks.shape("conv", "dL/dy", dy, (x.shape[0], w.shape[0], *out_size(x.shape[2], x.shape[3], geo)))
    N, K, Ho, Wo = dy.shape
    if path(geo, x.shape[1], K) == "winograd" and not params:
        # the forward's tiles run backwards with the same transformed weights; the mask gates dy as it is read
        U = kept[0] if kept else None  # conv_forward's U, if it kept it
        return winograd.backward(WINOGRAD_KERNELS[geo.kh], dy, w, geo, x.shape, mask, U)
    if not params and fused(geo, x.shape[1], K, dy.dtype):
        return _fused_backward(dy, w, geo, x.shape, mask)
    if mask is not None:  # the fused ReLU: gradient flows only where y > 0
        masked = np.empty_like(dy)
        for n in range(N):
            _mask_nb(dy[n].reshape(K, Ho * Wo), mask[n].reshape(K, Ho * Wo), masked[n].reshape(K, Ho * Wo))
        dy = masked
    dx = (np.empty if path(geo, x.shape[1], K) == "gemm" else np.zeros)(x.shape, x.dtype)
    _gemm_backward_input(dy, w, dx, geo)
    if not params:
        return dx
    grads = {"weight": _gemm_backward_weight(dy, x, geo, w.shape)}
    if has_bias:
        grads["bias"] = dy.sum(axis=(0, 2, 3))
    return dx, grads
