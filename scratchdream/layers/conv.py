"""Convolution: the layer that computes the neurons h_ij of the lecture's slide 34.

Legend: N batch, C in / K out channels, H W in, Ho Wo out, kh kw kernel, s stride, p pad (top, bottom,
left, right), d dilation (1 = none), g groups (each group sees C/g inputs and makes K/g outputs).
    x (N,C,H,W), w (K,C/g,kh,kw), b (K,) -> y (N,K,Ho,Wo),  Ho = (H + pt + pb - d(kh-1) - 1)//s + 1
    forward:  y[n,k,i,j] = b[k] + sum_{c,u,v} w[k,c,u,v] x[n,c, s*i + d*u - pt, s*j + d*v - pl]   (then ReLU if fused)
    backward: dx[n,c,m,l] = sum_{k,i,j: s*i+d*u-pt = m, s*j+d*v-pl = l} w[k,c,u,v] dy[n,k,i,j]
              dw[k,c,u,v] = sum_{n,i,j} dy[n,k,i,j] x[n,c, s*i+d*u-pt, s*j+d*v-pl],   db[k] = sum_{n,i,j} dy[n,k,i,j]

The module reads top to bottom: the plain NumPy reference (`_conv_ref`, `_conv_ref_backward`), then the
fast path: im2col (unfold every receptive field into a column, a Numba kernel) + one BLAS matrix product,
col2im for the input gradient, and 1x1 stride-1 convolutions as a plain matrix product with no unfolding.
3x3 stride-1 convolutions with >= 8 channels go through Winograd F(4x4,3x3) (`layers/winograd.py`), forward
and input gradient. The products run on Numba's threads (`layers/_blas.py`); docs/performance.md has the figures.
Dreaming calls `conv_backward(dy, cache)` and never pays for the weight gradient; training asks params=True.
"""

import numpy as np
from numba import njit, prange

from ..errors import UserError
from . import _blas, winograd
from ._threads import parallel_if_large

COLS_BUDGET = (
    1 << 22
)  # elements (16 MiB in float32) the im2col buffer may hold; bigger images go in row bands
WINOGRAD = True  # 3x3 stride-1 convolutions by Winograd F(4x4,3x3) (layers/winograd.py); False: im2col


# ---- hyper-parameters and sizes -------------------------------------------------------------------
def _geometry(hp):
    """(kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g) from hp, accepting ints where a pair is expected."""
    pair = lambda v, d: (
        (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v) if v is not None else (d, d)
    )
    kh, kw = pair(hp["kernel"], 1)
    sh, sw = pair(hp.get("stride", 1), 1)
    dh, dw = pair(hp.get("dilation", 1), 1)
    pad = hp.get("pad", 0)
    pad = [int(pad)] * 4 if np.isscalar(pad) else [int(p) for p in pad]
    pt, pb, pl, pr = (pad[0], pad[0], pad[1], pad[1]) if len(pad) == 2 else pad
    return kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, int(hp.get("groups", 1))


def _out_size(H, W, geo):
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, _ = geo
    return (H + pt + pb - dh * (kh - 1) - 1) // sh + 1, (W + pl + pr - dw * (kw - 1) - 1) // sw + 1


def conv_shape(in_shapes, hp):
    """(C, H, W) of the input -> (K, Ho, Wo) of the output."""
    C, H, W = in_shapes[0]
    Ho, Wo = _out_size(H, W, _geometry(hp))
    return int(hp["out"]), Ho, Wo


def conv_params(in_shapes, hp):
    """Parameter shapes: weight (K, C/g, kh, kw) in OIHW, bias (K,) unless hp["bias"] is False."""
    C = in_shapes[0][0]
    K, g = int(hp["out"]), int(hp.get("groups", 1))
    if C % g or K % g:
        raise UserError(
            f"conv with {C} inputs and {K} outputs cannot be split into {g} groups; fix 'groups' in the architecture"
        )
    kh, kw = _geometry(hp)[:2]
    shapes = {"weight": (K, C // g, kh, kw)}
    if hp.get("bias", True):
        shapes["bias"] = (K,)
    return shapes


# ---- the plain NumPy reference: one shifted, strided view of the padded input per kernel tap --------
def _taps(xp, u, v, geo, Ho, Wo):
    """The input pixels that kernel tap (u, v) meets for every output pixel: xp[:, :, s*i + d*u, s*j + d*v]."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    return xp[:, :, dh * u : dh * u + sh * (Ho - 1) + 1 : sh, dw * v : dw * v + sw * (Wo - 1) + 1 : sw]


def _conv_ref(x, w, b, hp):
    """y = conv(x, w) + b (then ReLU if hp["relu"]), by summing over kernel taps: slow, obvious, exact."""
    geo = _geometry(hp)
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    N, C, H, W = x.shape
    K = w.shape[0]
    Ho, Wo = _out_size(H, W, geo)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((N, K, Ho, Wo), dtype=np.result_type(x, w))
    Cg, Kg = C // g, K // g
    for u in range(kh):
        for v in range(kw):
            patch = _taps(xp, u, v, geo, Ho, Wo)  # (N, C, Ho, Wo)
            for q in range(g):
                y[:, q * Kg : (q + 1) * Kg] += np.einsum(
                    "kc,nchw->nkhw", w[q * Kg : (q + 1) * Kg, :, u, v], patch[:, q * Cg : (q + 1) * Cg]
                )
    if b is not None:
        y += b.reshape(1, K, 1, 1)
    return np.maximum(y, 0) if hp.get("relu", False) else y


def _conv_ref_backward(dy, x, w, hp, y=None):
    """(dx, dw, db) by the same taps in reverse: each tap's gradient lands back on the pixels it read."""
    geo = _geometry(hp)
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    if hp.get("relu", False):
        dy = dy * (y > 0)  # the fused ReLU lets through where y > 0
    N, C, H, W = x.shape
    K, Ho, Wo = dy.shape[1:]
    Cg, Kg = C // g, K // g
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    dwt = np.zeros_like(w)
    for u in range(kh):
        for v in range(kw):
            patch = _taps(xp, u, v, geo, Ho, Wo)
            dpatch = _taps(dxp, u, v, geo, Ho, Wo)  # a view: += writes into dxp
            for q in range(g):
                ks, cs = slice(q * Kg, (q + 1) * Kg), slice(q * Cg, (q + 1) * Cg)
                dpatch[:, cs] += np.einsum("kc,nkhw->nchw", w[ks, :, u, v], dy[:, ks])
                dwt[ks, :, u, v] = np.einsum("nkhw,nchw->kc", dy[:, ks], patch[:, cs])
    dx = dxp[:, :, pt : pt + H, pl : pl + W]
    return np.ascontiguousarray(dx), dwt, dy.sum(axis=(0, 2, 3))


# ---- Numba kernels: im2col / col2im over a band of output rows, and the bias + ReLU epilogue ---------
@njit(parallel=True, cache=True)
def _im2col_nb(x, cols, kh, kw, sh, sw, pt, pl, dh, dw, i0, i1, Wo):
    """cols[(c*kh+u)*kw+v, (i-i0)*Wo+j] = x[c, s*i+d*u-pt, s*j+d*v-pl] (0 outside), rows i0..i1 of the output."""
    C, H, W = x.shape
    for r in prange(C * kh * kw):  # each task fills its own row of cols
        c, u, v = r // (kh * kw), (r // kw) % kh, r % kw
        for i in range(i0, i1):
            m = sh * i + dh * u - pt
            base = (i - i0) * Wo
            if m < 0 or m >= H:
                cols[r, base : base + Wo] = 0
                continue
            for j in range(Wo):
                l = sw * j + dw * v - pl
                cols[r, base + j] = x[c, m, l] if 0 <= l < W else 0


@njit(parallel=True, cache=True)
def _col2im_nb(cols, dx, kh, kw, sh, sw, pt, pl, dh, dw, i0, i1, Wo):
    """dx[c, s*i+d*u-pt, s*j+d*v-pl] += cols[(c*kh+u)*kw+v, (i-i0)*Wo+j]: the adjoint of _im2col_nb.

    Gathered per input row (c, m), so parallel tasks never add into the same pixel.
    """
    C, H, W = dx.shape
    for cm in prange(C * H):
        c, m = cm // H, cm % H
        for u in range(kh):
            top = m + pt - dh * u  # = s*i for the output row i that reads x[c, m] by tap u
            if top % sh != 0:
                continue
            i = top // sh
            if i < i0 or i >= i1:
                continue
            base = (i - i0) * Wo
            for v in range(kw):
                r = (c * kh + u) * kw + v
                for j in range(Wo):
                    l = sw * j + dw * v - pl
                    if 0 <= l < W:
                        dx[c, m, l] += cols[r, base + j]


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


# ---- the fast path ---------------------------------------------------------------------------------
def _is_pointwise(geo):
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    return kh == 1 and kw == 1 and sh == 1 and sw == 1 and pt == pb == pl == pr == 0


def _bands(Ho, Wo, rows_of_cols):
    """Split output rows 0..Ho into bands whose im2col buffer stays under COLS_BUDGET elements."""
    step = max(1, min(Ho, COLS_BUDGET // max(1, rows_of_cols * Wo)))
    return [(i0, min(Ho, i0 + step)) for i0 in range(0, Ho, step)]


def _gemm_forward(x, w, y, geo):
    """y[n] = W_q @ im2col(x[n]) for each group q, band by band (no bias, no ReLU)."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    N, C, H, W = x.shape
    K, Ho, Wo = y.shape[1:]
    Cg, Kg = C // g, K // g
    w2 = w.reshape(g, Kg, Cg * kh * kw)
    pointwise = _is_pointwise(geo)
    bands = [(0, Ho)] if pointwise else _bands(Ho, Wo, Cg * kh * kw)
    cols = None if pointwise else np.empty((Cg * kh * kw, (bands[0][1] - bands[0][0]) * Wo), x.dtype)
    for n in range(N):
        yn = y[n].reshape(g, Kg, Ho * Wo)
        for q in range(g):
            xq = x[n, q * Cg : (q + 1) * Cg]
            if pointwise:
                _blas.matmul(w2[q], xq.reshape(Cg, H * W), yn[q])
                continue
            for i0, i1 in bands:
                c = cols[:, : (i1 - i0) * Wo]
                _im2col_nb(xq, c, kh, kw, sh, sw, pt, pl, dh, dw, i0, i1, Wo)
                _blas.matmul(w2[q], c, yn[q, :, i0 * Wo : i1 * Wo])


def _gemm_backward_input(dy, w, dx, geo):
    """dx[n] = col2im(W_q^T @ dy[n]) for each group q, band by band."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    N, C, H, W = dx.shape
    K, Ho, Wo = dy.shape[1:]
    Cg, Kg = C // g, K // g
    w2 = w.reshape(g, Kg, Cg * kh * kw)
    pointwise = _is_pointwise(geo)
    bands = [(0, Ho)] if pointwise else _bands(Ho, Wo, Cg * kh * kw)
    cols = None if pointwise else np.empty((Cg * kh * kw, (bands[0][1] - bands[0][0]) * Wo), dx.dtype)
    for n in range(N):
        dyn = dy[n].reshape(g, Kg, Ho * Wo)
        for q in range(g):
            if pointwise:
                _blas.matmul(w2[q], dyn[q], dx[n, q * Cg : (q + 1) * Cg].reshape(Cg, H * W), trans_a=True)
                continue
            for i0, i1 in bands:
                c = cols[:, : (i1 - i0) * Wo]
                _blas.matmul(w2[q], dyn[q, :, i0 * Wo : i1 * Wo], c, trans_a=True)
                _col2im_nb(c, dx[n, q * Cg : (q + 1) * Cg], kh, kw, sh, sw, pt, pl, dh, dw, i0, i1, Wo)


def _gemm_backward_weight(dy, x, geo, w_shape):
    """dW_q = sum_n dy[n]_q @ im2col(x[n])^T, band by band (training only: NumPy's matmul is fine)."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, g = geo
    N, C, H, W = x.shape
    K, Ho, Wo = dy.shape[1:]
    Cg, Kg = C // g, K // g
    dw2 = np.zeros((g, Kg, Cg * kh * kw), x.dtype)
    pointwise = _is_pointwise(geo)
    for n in range(N):
        dyn = dy[n].reshape(g, Kg, Ho * Wo)
        for q in range(g):
            xq = x[n, q * Cg : (q + 1) * Cg]
            if pointwise:
                dw2[q] += dyn[q] @ xq.reshape(Cg, H * W).T
                continue
            for i0, i1 in _bands(Ho, Wo, Cg * kh * kw):
                cols = np.empty((Cg * kh * kw, (i1 - i0) * Wo), x.dtype)
                _im2col_nb(xq, cols, kh, kw, sh, sw, pt, pl, dh, dw, i0, i1, Wo)
                dw2[q] += dyn[q, :, i0 * Wo : i1 * Wo] @ cols.T
    return dw2.reshape(w_shape)


# ---- forward and backward --------------------------------------------------------------------------
def _check(x, w, b, hp, geo):
    if x.ndim != 4:
        raise UserError(f"conv takes (N, C, H, W) input, got shape {x.shape}; add the batch axis")
    K, Cg, kh, kw = w.shape
    g = geo[-1]
    if (K, Cg * g, kh, kw) != (int(hp["out"]), x.shape[1], geo[0], geo[1]):
        raise UserError(
            f"conv weight {w.shape} does not fit input {x.shape} with hp {hp}; "
            "were the weights converted for another architecture?"
        )
    if b is not None and b.shape != (K,):
        raise UserError(
            f"conv bias {b.shape} does not fit {K} output channels; were the weights converted for another net?"
        )
    Ho, Wo = _out_size(x.shape[2], x.shape[3], geo)
    if Ho < 1 or Wo < 1:
        raise UserError(
            f"input {x.shape[2]}x{x.shape[3]} is smaller than the {kh}x{kw} kernel can read; use a bigger image"
        )


@parallel_if_large
def conv_forward(x, w, b, hp):
    """x (N,C,H,W), w (K,C/g,kh,kw), b (K,) or None -> y (N,K,Ho,Wo), cache. Output is post-ReLU if hp["relu"]."""
    geo = _geometry(hp)
    x = np.ascontiguousarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    x = x.astype(dtype, copy=False)
    w = np.ascontiguousarray(w, dtype=dtype)
    b = None if b is None else np.ascontiguousarray(b, dtype=dtype)
    _check(x, w, b, hp, geo)
    N, C, H, W = x.shape
    K = w.shape[0]
    Ho, Wo = _out_size(H, W, geo)
    relu = bool(hp.get("relu", False))
    if WINOGRAD and winograd.applies(geo, C, K):
        y, mask = winograd.conv3x3(x, w, geo[4], geo[6], Ho, Wo, b, relu)
    else:
        y = np.empty((N, K, Ho, Wo), dtype)
        _gemm_forward(x, w, y, geo)
        mask = np.empty((N, K, Ho, Wo), np.bool_) if relu else None
        if relu or b is not None:
            bias = b if b is not None else np.zeros(K, dtype)
            dummy = np.empty((1, 1), np.bool_)
            for n in range(N):
                _bias_relu_nb(
                    y[n].reshape(K, Ho * Wo), bias, relu, mask[n].reshape(K, Ho * Wo) if relu else dummy
                )
    return y, (x, w, b is not None, geo, mask)  # mask: bool (N,K,Ho,Wo), y > 0, when the ReLU is fused


@parallel_if_large
def conv_backward(dy, cache, params=False):
    """dy (N,K,Ho,Wo) -> dx (N,C,H,W); with params=True -> (dx, {"weight": dw, "bias": db})."""
    x, w, has_bias, geo, mask = cache
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    N, K, Ho, Wo = dy.shape
    N, C, H, W = x.shape
    kh, kw, sh, sw, pt, pb, pl, pr = geo[:8]
    if WINOGRAD and winograd.applies(geo, C, K) and not params:
        # the forward's tiles run backwards with the same transformed weights; the ReLU mask is applied as dy is read
        return winograd.conv3x3_grad(dy, w, pt, pl, H, W, mask)
    if mask is not None:  # the fused ReLU: gradient flows only where y > 0
        masked = np.empty_like(dy)
        for n in range(N):
            _mask_nb(dy[n].reshape(K, Ho * Wo), mask[n].reshape(K, Ho * Wo), masked[n].reshape(K, Ho * Wo))
        dy = masked
    dx = np.empty_like(x) if _is_pointwise(geo) else np.zeros_like(x)
    _gemm_backward_input(dy, w, dx, geo)
    if not params:
        return dx
    grads = {"weight": _gemm_backward_weight(dy, x, geo, w.shape)}
    if has_bias:
        grads["bias"] = dy.sum(axis=(0, 2, 3))
    return dx, grads
