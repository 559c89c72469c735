"""Convolution: the layer that computes the neurons h_ij of the lecture's slide 34.

Legend: N batch, C in / K out channels, H W in, Ho Wo out, kh kw kernel, s stride, p pad (top, bottom,
left, right), d dilation (1 = none), g groups (each group sees C/g inputs and makes K/g outputs); the
window is a `Geometry` (layers/geometry.py).
    x (N,C,H,W), w (K,C/g,kh,kw), b (K,) -> y (N,K,Ho,Wo),  Ho = (H + pt + pb - d(kh-1) - 1)//s + 1
    forward:  y[n,k,i,j] = b[k] + sum_{c,u,v} w[k,c,u,v] x[n,c, s*i + d*u - pt, s*j + d*v - pl]
              (then ReLU if fused)
    backward: dx[n,c,m,l] = sum_{k,i,j: s*i+d*u-pt = m, s*j+d*v-pl = l} w[k,c,u,v] dy[n,k,i,j]
              dw[k,c,u,v] = sum_{n,i,j} dy[n,k,i,j] x[n,c, s*i+d*u-pt, s*j+d*v-pl]
              db[k] = sum_{n,i,j} dy[n,k,i,j]

This is the plain NumPy version: for each kernel tap (u, v), one strided view of the padded input meets
the tap's weights in one matrix product; backward sends each tap's gradient back onto the pixels it read.
`layers/fast/conv.py` computes the same with im2col + BLAS and Winograd. Dreaming calls
`conv_backward(dy, cache)` and never pays for the weight gradient; training asks params=True.
dx needs w and the mask but not x itself (only its shape): `input_only(cache)` swaps x for its `Shape`,
so a dream's tape does not hold every conv's input (the network's graph does that unless the forward is
asked for weight gradients).
"""

from typing import NamedTuple

import numpy as np

from ..errors import UsageError, UserError
from .geometry import check as check_geometry
from .geometry import out_size


# ---- sizes and checks (shared with layers/fast/conv.py) ---------------------------------------------
def conv_shape(in_shape, geo, out):
    """(C, H, W) of the input -> (K, Ho, Wo) of the output, K = out."""
    return (int(out), *out_size(in_shape[1], in_shape[2], geo))


def conv_params(in_shape, geo, out, bias=True):
    """Parameter shapes: weight (K, C/g, kh, kw) in OIHW, and bias (K,) when `bias`."""
    C, K, g = in_shape[0], int(out), geo.groups
    if C % g or K % g:
        raise UserError(
            f"conv with {C} inputs and {K} outputs cannot be split into {g} groups; "
            "fix 'groups' in the architecture"
        )
    shapes = {"weight": (K, C // g, geo.kh, geo.kw)}
    if bias:
        shapes["bias"] = (K,)
    return shapes


def as_inputs(x, w, b, geo):
    """x as float32 (float64 kept), w and b in x's dtype, all checked against each other and the geometry."""
    check_geometry(geo, "conv")
    x = np.asarray(x)
    x = x.astype(x.dtype if x.dtype in (np.float32, np.float64) else np.float32, copy=False)
    w = np.asarray(w, dtype=x.dtype)
    b = None if b is None else np.asarray(b, dtype=x.dtype)
    if x.ndim != 4:
        raise UserError(f"conv takes (N, C, H, W) input, got shape {x.shape}; add the batch axis")
    K, C, g = (w.shape[0] if w.ndim == 4 else 0), x.shape[1], geo.groups
    if K < 1 or C % g or K % g or w.shape != (K, C // g, geo.kh, geo.kw):
        raise UserError(
            f"conv weight {w.shape} does not fit input {x.shape} with a {geo.kh}x{geo.kw} kernel in "
            f"{geo.groups} group(s); were the weights converted for another architecture?"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise UserError(
            f"conv bias {b.shape} does not fit {w.shape[0]} output channels; "
            "were the weights converted for another net?"
        )
    if min(out_size(x.shape[2], x.shape[3], geo)) < 1:
        raise UserError(
            f"input {x.shape[2]}x{x.shape[3]} is smaller than the {geo.kh}x{geo.kw} kernel can read; "
            "use a bigger image"
        )
    return x, w, b


# ---- the taps: y = sum over (u, v) of w[:, :, u, v] @ (the input pixels tap (u, v) reads) -----------
def _tap(a, u, v, geo, Ho, Wo):
    """The view a[..., s*i + d*u, s*j + d*v], i < Ho, j < Wo, of a padded array (+= writes into a)."""
    r, c = geo.dh * u, geo.dw * v
    return a[..., r : r + geo.sh * (Ho - 1) + 1 : geo.sh, c : c + geo.sw * (Wo - 1) + 1 : geo.sw]


def _padded_groups(x, geo):
    """x (N, C, H, W) zero-padded and split by group: (N, g, C/g, H + pt + pb, W + pl + pr)."""
    xp = np.pad(x, ((0, 0), (0, 0), (geo.pt, geo.pb), (geo.pl, geo.pr)))
    return xp.reshape(x.shape[0], geo.groups, -1, *xp.shape[2:])


def conv_forward(x, w, b, geo, relu=False):
    """x (N,C,H,W), w (K,C/g,kh,kw), b (K,) or None -> y (N,K,Ho,Wo), cache. Output is max(y, 0) if relu."""
    x, w, b = as_inputs(x, w, b, geo)
    N, K, g = x.shape[0], w.shape[0], geo.groups
    Ho, Wo = out_size(x.shape[2], x.shape[3], geo)
    xg = _padded_groups(x, geo)  # (N, g, C/g, Hp, Wp)
    wg = w.reshape(g, K // g, *w.shape[1:])  # (g, K/g, C/g, kh, kw)
    y = np.zeros((N, g, K // g, Ho * Wo), x.dtype)
    for u in range(geo.kh):
        for v in range(geo.kw):  # (g, K/g, C/g) @ (N, g, C/g, Ho·Wo): every output pixel at once
            y += wg[..., u, v] @ _tap(xg, u, v, geo, Ho, Wo).reshape(N, g, -1, Ho * Wo)
    y = y.reshape(N, K, Ho, Wo)
    if b is not None:
        y += b.reshape(1, K, 1, 1)
    mask = y > 0 if relu else None  # the fused ReLU: y = max(y, 0), and backward passes dy where y > 0
    return (np.where(mask, y, 0) if relu else y), (x, w, b is not None, geo, mask)


class Shape(NamedTuple):
    """What backward needs of x for dx alone: its shape and dtype (input_only)."""

    shape: tuple
    dtype: np.dtype


def input_only(cache):
    """The cache without x (its Shape instead): enough for dx, not for the weight gradient."""
    x, *rest = cache
    return (Shape(x.shape, x.dtype), *rest)


def needs_input(x, params):
    """backward(params=True) of a cache that input_only stripped: the weight gradient needs x."""
    if params and isinstance(x, Shape):
        raise UsageError(
            "conv: the weight gradient needs the layer's input, which this forward did not keep; "
            "run the network's forward with weight_grads=True"
        )


def conv_backward(dy, cache, params=False):
    """dy (N,K,Ho,Wo) -> dx (N,C,H,W); with params=True -> (dx, {"weight": dw, "bias": db})."""
    x, w, has_bias, geo, mask = cache
    needs_input(x, params)
    dy = np.asarray(dy, dtype=x.dtype)
    if mask is not None:
        dy = np.where(mask, dy, 0)
    N, C, H, W = x.shape
    K, Ho, Wo = dy.shape[1:]
    g = geo.groups
    wg = w.reshape(g, K // g, *w.shape[1:])
    dyg = dy.reshape(N, g, K // g, Ho * Wo)
    xg = _padded_groups(x, geo) if params else None
    padded = (N, g, C // g, H + geo.pt + geo.pb, W + geo.pl + geo.pr)
    dxg, dwg = np.zeros(padded, x.dtype), np.zeros_like(wg)
    for u in range(geo.kh):
        for v in range(geo.kw):
            dtap = _tap(dxg, u, v, geo, Ho, Wo)  # the pixels tap (u, v) read get its gradient back
            dtap += (wg[..., u, v].swapaxes(1, 2) @ dyg).reshape(dtap.shape)
            if params:
                pixels = _tap(xg, u, v, geo, Ho, Wo).reshape(N, g, -1, Ho * Wo)
                dwg[..., u, v] = (dyg @ pixels.swapaxes(2, 3)).sum(axis=0)
    dx = dxg.reshape(N, C, *dxg.shape[3:])[:, :, geo.pt : geo.pt + H, geo.pl : geo.pl + W]
    if not params:
        return np.ascontiguousarray(dx)
    grads = {"weight": dwg.reshape(w.shape)}
    if has_bias:
        grads["bias"] = dy.sum(axis=(0, 2, 3))
    return np.ascontiguousarray(dx), grads
