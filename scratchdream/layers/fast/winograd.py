"""Winograd F(4x4, 3x3): the fast conv (layers/fast/conv.py) of a 3x3 stride-1 convolution, forward and
backward, with 2.25 instead of 9 multiplications per output.

Why it is exact: a 3-tap correlation of 6 inputs is the product of two polynomials evaluated at 6 points
(0, 1, -1, 2, -2, inf) and read back by interpolation. In matrix form, for one 6x6 input tile d and one
3x3 kernel g, the 4x4 output tile is
    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A                      (⊙: elementwise, 36 products)
and summed over input channels the 36 products become 36 matrix products, done by BLAS:
    M[ξ] (K, T) = U[ξ] (K, C) @ V[ξ] (C, T),   U = G g G^T per (k, c),  V = B^T d B per (c, tile),  ξ = 0..35
The input gradient is the same algorithm run backwards (its adjoint, each linear step transposed), with the
same U, so one transformed copy of the weights serves both directions:
    dM = A dY A^T per (k, tile),   dV[ξ] (C, T) = U[ξ]^T (C, K) @ dM[ξ] (K, T),   dd = B dV B^T per (c, tile)
and each 6x6 dd is added back onto the input pixels its tile read (neighbouring tiles overlap by 2).
(The textbook route, dx = conv(dy, w rotated 180°, in/out swapped, pad 2 - p), would need a second U.)
Transforms are Numba loops over tiles, parallel over channels (each channel writes only its own rows).
`_conv3x3_ref` and `_conv3x3_grad_ref` write all of this with the explicit matrices, for the tests.

Accuracy: the transforms multiply by up to 8 and 1/24, so float32 rounding grows: measured relative error
against the direct convolution is ~1e-6..1e-5 (tests/test_conv.py holds it under 1e-4); float64 ~1e-15.
"""

import sys
import types
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ...errors import UserError
from ..geometry import out_size
from . import blas, checks

BAND_BUDGET = 1 << 20  # elements of V (36, C, tiles) per band: 4 MiB in float32 (see _band_plan)
WIDE_BAND_BUDGET = 1 << 22  # the same, 16 MiB, for layers whose U is too big to make whole (see _band_plan)
WEIGHT_BUDGET = 1 << 21  # elements of transformed weights made at a time (8 MiB), see _sliced_products
KEEP_TILES = 256  # a layer of at most this many tiles keeps its U from forward to backward (kept_weights)
TILE, TAPS = 4, 6  # output tile side, input tile side (TILE + 3 - 1)


# ---- the plain NumPy reference: the three matrices written out, every tile at once -----------------
# Rows of B^T, G, A^T are the points 0, 1, -1, 2, -2 and infinity (B^T, A^T for the data, G for the kernel).
BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    np.float64,
)
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    np.float64,
)
AT = np.array(
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64
)


def _tiles_ref(H, W, pt, pl, Ho, Wo):
    """Tile counts, and the zero padding (top, bottom), (left, right) that makes every 6x6 input tile
    whole."""
    nty, ntx = -(-Ho // TILE), -(-Wo // TILE)
    return nty, ntx, (pt, TILE * nty + 2 - H - pt), (pl, TILE * ntx + 2 - W - pl)  # bottom/right >= pad: >= 0


def _conv3x3_ref(x, w, pt, pl, Ho, Wo):
    """y (N,K,Ho,Wo) = A^T [ sum_c (G w G^T) ⊙ (B^T d B) ] A per tile d of x (N,C,H,W) padded by pt/pl;
    no bias."""
    N, C, H, W = x.shape
    nty, ntx, ph, pw = _tiles_ref(H, W, pt, pl, Ho, Wo)
    xp = np.pad(x, ((0, 0), (0, 0), ph, pw))
    r = TILE * np.arange(nty)[:, None] + np.arange(TAPS)  # (nty, 6): padded rows of each tile
    q = TILE * np.arange(ntx)[:, None] + np.arange(TAPS)  # (ntx, 6)
    d = xp[:, :, r[:, :, None, None], q[None, None, :, :]]  # (N, C, nty, 6, ntx, 6)
    V = np.einsum("ai,ncyixj,bj->ncyxab", BT, d, BT)  # B^T d B
    U = np.einsum("ai,kcij,bj->kcab", G, w, G)  # G g G^T
    M = np.einsum("kcab,ncyxab->nkyxab", U, V)  # summed over c
    Y = np.einsum("ia,nkyxab,jb->nkyixj", AT, M, AT)  # A^T M A: (N, K, nty, 4, ntx, 4)
    return Y.reshape(N, -1, TILE * nty, TILE * ntx)[:, :, :Ho, :Wo]


def _conv3x3_grad_ref(dy, w, pt, pl, H, W):
    """dx (N,C,H,W): _conv3x3_ref backwards: dM = A dY A^T, dV = U^T dM, dd = B dV B^T, tiles added back."""
    N, K, Ho, Wo = dy.shape
    nty, ntx, ph, pw = _tiles_ref(H, W, pt, pl, Ho, Wo)
    dY = np.zeros((N, K, TILE * nty, TILE * ntx), dy.dtype)  # outputs past Ho, Wo get no gradient
    dY[:, :, :Ho, :Wo] = dy
    dM = np.einsum("ia,nkyixj,jb->nkyxab", AT, dY.reshape(N, K, nty, TILE, ntx, TILE), AT)  # A dY A^T
    U = np.einsum("ai,kcij,bj->kcab", G, w, G)
    dV = np.einsum("kcab,nkyxab->ncyxab", U, dM)  # the same U, summed over k
    dd = np.einsum("ai,ncyxab,bj->ncyixj", BT, dV, BT)  # B dV B^T: (N, C, nty, 6, ntx, 6)
    dxp = np.zeros((N, w.shape[1], TILE * nty + 2, TILE * ntx + 2), dy.dtype)
    for ty in range(nty):
        for tx in range(ntx):
            dxp[:, :, TILE * ty : TILE * ty + TAPS, TILE * tx : TILE * tx + TAPS] += dd[:, :, ty, :, tx, :]
    return dxp[:, :, pt : pt + H, pl : pl + W]  # the padding's gradient is dropped


# ---- the Numba kernels: the matrices above written out as sums, one loop per transform -------------
@njit(inline="always")
def _g_line(g0, g1, g2, dst, a0, k, c, r4, r6, r12, r24):
    """dst[a0 + i, k, c] = (G g)[i], i = 0..5, for the kernel line g = (g0, g1, g2); r6 = 1/6 etc. in
    dst's dtype."""
    dst[a0, k, c] = g0 * r4
    dst[a0 + 1, k, c] = -(g0 + g1 + g2) * r6
    dst[a0 + 2, k, c] = -(g0 - g1 + g2) * r6
    dst[a0 + 3, k, c] = g0 * r24 + g1 * r12 + g2 * r6
    dst[a0 + 4, k, c] = g0 * r24 - g1 * r12 + g2 * r6
    dst[a0 + 5, k, c] = g2


@njit(parallel=True, cache=True)
def _weights_nb(w, U):
    """U[6a+b, k, c] = (G w[k,c] G^T)[a, b]; w (K,C,3,3) -> U (36,K,C).

    Per output channel k: the 9 taps are gathered as rows over c, then G down the kernel's columns and
    across its rows, each a loop over consecutive c (vectorised), writing U's 36 rows as contiguous runs.
    """
    K, C = w.shape[:2]
    one = np.ones(1, U.dtype)[0]  # constants of U's dtype keep float32 math in float32
    c2 = one + one
    c3, c4 = c2 + one, c2 + c2
    c6 = c3 + c3
    r4, r6, r12, r24 = one / c4, one / c6, one / (c6 + c6), one / (c6 * c4)
    for k in prange(K):
        g = np.empty((9, C), U.dtype)  # g[3u + v, c] = w[k, c, u, v]
        t = np.empty((TAPS, 3, C), U.dtype)  # t[a, v, c] = (G g)[a, v]
        for c in range(C):
            for j in range(9):
                g[j, c] = w[k, c, j // 3, j % 3]
        for v in range(3):
            for c in range(C):
                _g_line(g[v, c], g[3 + v, c], g[6 + v, c], t, 0, v, c, r4, r6, r12, r24)
        for a in range(TAPS):
            for c in range(C):
                _g_line(t[a, 0, c], t[a, 1, c], t[a, 2, c], U, TAPS * a, k, c, r4, r6, r12, r24)


# The transforms run over blocks of channels: per block, the pass over the 36 planes of V, M, D or dV goes
# along (channel, tile) at once, one flat run per block and plane (each plane is (channels, T), so channels
# k0..k1 are one contiguous run), long enough to vectorise even where a plane has 16 tiles (14x14 at 224 px).
# One tile row at a time (the loops before) ran 4-14 products long. Same sums in the same order; on
# GoogLeNet's and VGG16's 3x3 layers at 224 px, 2 threads: output side 1.3-2.2x faster, input side 1.0-1.4x.
FLAT = 512  # products per block and plane: a block has max(1, FLAT // T) channels


@njit(cache=True)
def _channel_blocks(K, T):
    """(channels per block, blocks) for K channels of T tiles each."""
    kb = max(1, min(K, FLAT // max(T, 1)))
    return kb, (K + kb - 1) // kb


@njit(parallel=True, cache=True)
def _input_nb(x, V, pt, pl, ty0, ty1, ntx):
    """V[6a+b, c, t] = (B^T d B)[a, b] for the 6x6 input tile d of tile t (zero outside x).

    By blocks of channels (see FLAT). Per tile row, its 6 input rows are copied (zero-padded) split
    by column phase (q mod 4), so that B^T down the columns is a loop over consecutive tiles; what B across
    needs of each tile (its 4 phases, and phases 0, 1 of the next tile) is put beside the tile's place in
    the block. Then B across is one flat loop over the block's (channel, tile) pairs per row a, and V's 36
    rows are written as long contiguous runs.
    """
    C, H, W = x.shape
    T = (ty1 - ty0) * ntx
    cb, blocks = _channel_blocks(C, T)
    Vf, CT = V.reshape(-1), np.uint64(C * T)  # unsigned offsets: no wrap checks
    n4 = ntx + 1  # tiles + 1: the last tile reads 2 columns of the next
    one = np.ones(1, V.dtype)[0]  # constants of V's dtype keep float32 math in float32
    c2 = one + one
    c4 = c2 + c2
    c5 = c4 + one
    lo, hi = min(pl, 4 * n4), min(4 * n4, W + pl)  # padded columns lo..hi-1 hold x[:, :, 0..]
    for blk in prange(blocks):
        c0 = blk * cb
        c1 = min(C, c0 + cb)
        L = (c1 - c0) * T
        xr = np.zeros((TAPS, 4, n4), V.dtype)  # xr[j, q % 4, q // 4] = x[c, m0 + j, q - pl]
        e = np.empty((TAPS, TAPS, L), V.dtype)  # B^T xr: (a, column j of the tile, (channel, tile))
        for c in range(c0, c1):
            for ty in range(ty0, ty1):
                m0 = TILE * ty - pt
                for j in range(TAPS):
                    m = m0 + j
                    if m < 0 or m >= H:
                        xr[j] = 0
                        continue
                    for q in range(lo):
                        xr[j, q & 3, q >> 2] = 0
                    for q in range(lo, hi):
                        xr[j, q & 3, q >> 2] = x[c, m, q - pl]
                    for q in range(hi, 4 * n4):
                        xr[j, q & 3, q >> 2] = 0
                l0 = (c - c0) * T + (ty - ty0) * ntx
                for ph in range(4):  # columns: e = B^T xr; phases 0, 1 of tile tx + 1 are columns 4, 5 of tx
                    for tx in range(n4):
                        d0, d1, d2 = xr[0, ph, tx], xr[1, ph, tx], xr[2, ph, tx]
                        d3, d4, d5 = xr[3, ph, tx], xr[4, ph, tx], xr[5, ph, tx]
                        b0 = c4 * d0 - c5 * d2 + d4
                        b1 = d3 + d4 - c4 * (d1 + d2)
                        b2 = c4 * (d1 - d2) - d3 + d4
                        b3 = c2 * (d3 - d1) - d2 + d4
                        b4 = c2 * (d1 - d3) - d2 + d4
                        b5 = c4 * d1 - c5 * d3 + d5
                        if tx < ntx:
                            e[0, ph, l0 + tx], e[1, ph, l0 + tx], e[2, ph, l0 + tx] = b0, b1, b2
                            e[3, ph, l0 + tx], e[4, ph, l0 + tx], e[5, ph, l0 + tx] = b3, b4, b5
                        if ph < 2 and tx > 0:
                            q = l0 + tx - 1
                            e[0, 4 + ph, q], e[1, 4 + ph, q], e[2, 4 + ph, q] = b0, b1, b2
                            e[3, 4 + ph, q], e[4, 4 + ph, q], e[5, 4 + ph, q] = b3, b4, b5
        for a in range(TAPS):  # rows: (B^T d) B, every (channel, tile) of the block in one loop
            s0 = np.uint64(TAPS * a) * CT + np.uint64(c0 * T)
            s1 = s0 + CT  # rows 6a + 1 .. 6a + 5 of V, the same (channel, tile)
            s2 = s1 + CT
            s3 = s2 + CT
            s4 = s3 + CT
            s5 = s4 + CT
            for q in range(np.uint64(L)):
                d0, d1, d2 = e[a, 0, q], e[a, 1, q], e[a, 2, q]
                d3, d4, d5 = e[a, 3, q], e[a, 4, q], e[a, 5, q]
                Vf[s0 + q] = c4 * d0 - c5 * d2 + d4
                Vf[s1 + q] = d3 + d4 - c4 * (d1 + d2)
                Vf[s2 + q] = c4 * (d1 - d2) - d3 + d4
                Vf[s3 + q] = c2 * (d3 - d1) - d2 + d4
                Vf[s4 + q] = c2 * (d1 - d3) - d2 + d4
                Vf[s5 + q] = c4 * d1 - c5 * d3 + d5


@njit(parallel=True, cache=True)
def _output_nb(M, y, bias, relu, mask, ty0, ty1, ntx):
    """y[k, 4ty+i, 4tx+j] = (A^T m A)[i, j] + bias[k] (then ReLU, mask = y > 0) for the 36 products m of
    each tile.

    Per block of channels: A^T down the 6 rows of products, one flat loop over the block's (channel, tile)
    pairs per column b; then per tile row, A across into a phase-split row buffer, copied out with bias
    and ReLU.
    """
    K, Ho, Wo = y.shape
    T = (ty1 - ty0) * ntx
    kb, blocks = _channel_blocks(K, T)
    Mf, KT = M.reshape(-1), np.uint64(K * T)  # unsigned offsets: no wrap checks
    one = np.ones(1, M.dtype)[0]
    c2 = one + one
    c4 = c2 + c2
    c8 = c4 + c4
    for blk in prange(blocks):
        k0 = blk * kb
        k1 = min(K, k0 + kb)
        L = (k1 - k0) * T
        e = np.empty((TILE, TAPS, L), M.dtype)  # A^T m: (out row i, product column b, (channel, tile))
        row = np.empty((TILE, ntx), M.dtype)  # row[j, tx] = y[k, r, 4tx + j]
        for b in range(TAPS):  # columns: e = A^T m
            s0 = np.uint64(b) * KT + np.uint64(k0 * T)
            step = np.uint64(TAPS) * KT  # from row a of the products to row a + 1, same column b
            s1 = s0 + step
            s2 = s1 + step
            s3 = s2 + step
            s4 = s3 + step
            s5 = s4 + step
            for q in range(np.uint64(L)):
                m0, m1, m2 = Mf[s0 + q], Mf[s1 + q], Mf[s2 + q]
                m3, m4, m5 = Mf[s3 + q], Mf[s4 + q], Mf[s5 + q]
                p, d, r, s = m1 + m2, m1 - m2, m3 + m4, m3 - m4
                e[0, b, q] = m0 + p + r
                e[1, b, q] = d + c2 * s
                e[2, b, q] = p + c4 * r
                e[3, b, q] = d + c8 * s + m5
        for k in range(k0, k1):
            bk = bias[k]
            for ty in range(ty0, ty1):
                l0 = (k - k0) * T + (ty - ty0) * ntx
                for i in range(min(TILE, Ho - TILE * ty)):  # rows: (A^T m) A, then bias and ReLU
                    for tx in range(ntx):
                        m0, m1, m2 = e[i, 0, l0 + tx], e[i, 1, l0 + tx], e[i, 2, l0 + tx]
                        m3, m4, m5 = e[i, 3, l0 + tx], e[i, 4, l0 + tx], e[i, 5, l0 + tx]
                        p, d, r, s = m1 + m2, m1 - m2, m3 + m4, m3 - m4
                        row[0, tx] = m0 + p + r
                        row[1, tx] = d + c2 * s
                        row[2, tx] = p + c4 * r
                        row[3, tx] = d + c8 * s + m5
                    yr = TILE * ty + i
                    if relu:
                        for j in range(Wo):
                            v = row[j & 3, j >> 2] + bk
                            mask[k, yr, j] = v > 0
                            y[k, yr, j] = max(v, 0)
                    else:
                        for j in range(Wo):
                            y[k, yr, j] = row[j & 3, j >> 2] + bk


# ---- the input gradient: the same steps transposed -------------------------------------------------
@njit(parallel=True, cache=True)
def _grad_output_nb(dy, mask, masked, D, ty0, ty1, ntx):
    """D[6a+b, k, t] = (A dY A^T)[a, b] for the 4x4 gradient tile dY of tile t: dy (where mask, if
    masked), 0 past Ho, Wo.

    The transpose of _output_nb, by the same blocks of channels: A (6x4) down the 4 rows of each tile, tile
    row by tile row, then across its 4 columns in one flat loop over the block's (channel, tile) pairs per
    row a of D.
    """
    K, Ho, Wo = dy.shape
    T = (ty1 - ty0) * ntx
    kb, blocks = _channel_blocks(K, T)
    Df, KT = D.reshape(-1), np.uint64(K * T)
    one = np.ones(1, D.dtype)[0]
    zero = one - one
    c2 = one + one
    c4 = c2 + c2
    c8 = c4 + c4
    for blk in prange(blocks):
        k0 = blk * kb
        k1 = min(K, k0 + kb)
        L = (k1 - k0) * T
        r4 = np.zeros((TILE, 4, ntx), D.dtype)  # r4[i, j, tx] = dy[k, 4ty + i, 4tx + j]
        e = np.empty((TAPS, 4, L), D.dtype)  # A r4, down the columns: (a, column j, (channel, tile))
        line = np.empty(Wo, D.dtype)  # one masked row: a contiguous loop the compiler vectorises
        for k in range(k0, k1):
            for ty in range(ty0, ty1):
                for i in range(TILE):
                    m = TILE * ty + i
                    if m >= Ho:
                        r4[i] = 0
                        continue
                    src = dy[k, m]
                    if masked:
                        keep = mask[k, m]
                        for j in range(Wo):
                            line[j] = src[j] if keep[j] else zero
                        src = line
                    for j in range(Wo):
                        r4[i, j & 3, j >> 2] = src[j]
                    for j in range(Wo, TILE * ntx):
                        r4[i, j & 3, j >> 2] = 0
                l0 = (k - k0) * T + (ty - ty0) * ntx
                for ph in range(4):
                    for tx in range(ntx):
                        d0, d1, d2, d3 = r4[0, ph, tx], r4[1, ph, tx], r4[2, ph, tx], r4[3, ph, tx]
                        e[0, ph, l0 + tx] = d0
                        e[1, ph, l0 + tx] = d0 + d1 + d2 + d3
                        e[2, ph, l0 + tx] = d0 - d1 + d2 - d3
                        e[3, ph, l0 + tx] = d0 + c2 * d1 + c4 * d2 + c8 * d3
                        e[4, ph, l0 + tx] = d0 - c2 * d1 + c4 * d2 - c8 * d3
                        e[5, ph, l0 + tx] = d3
        for a in range(TAPS):
            s0 = np.uint64(TAPS * a) * KT + np.uint64(k0 * T)
            s1 = s0 + KT  # rows 6a + 1 .. 6a + 5 of D, the same (channel, tile)
            s2 = s1 + KT
            s3 = s2 + KT
            s4 = s3 + KT
            s5 = s4 + KT
            for q in range(np.uint64(L)):
                d0, d1, d2, d3 = e[a, 0, q], e[a, 1, q], e[a, 2, q], e[a, 3, q]
                Df[s0 + q] = d0
                Df[s1 + q] = d0 + d1 + d2 + d3
                Df[s2 + q] = d0 - d1 + d2 - d3
                Df[s3 + q] = d0 + c2 * d1 + c4 * d2 + c8 * d3
                Df[s4 + q] = d0 - c2 * d1 + c4 * d2 - c8 * d3
                Df[s5 + q] = d3


@njit(cache=True)
def _b_down_rows(Df, e, CT, start, L, c2, c4, c5):
    """e[a, j, q] = (B d)[a, j], B down the 6 rows of products, for the L (channel, tile) pairs q of a block
    starting at flat offset `start` of each of D's 36 planes (CT apart): the first pass of both gradient
    input transforms (F(4,3) and F(2,5) share B)."""
    step = np.uint64(TAPS) * CT  # from row a of the products to row a + 1, same column j
    for j in range(TAPS):
        s0 = np.uint64(j) * CT + start
        s1 = s0 + step
        s2 = s1 + step
        s3 = s2 + step
        s4 = s3 + step
        s5 = s4 + step
        for q in range(np.uint64(L)):
            m0, m1, m2 = Df[s0 + q], Df[s1 + q], Df[s2 + q]
            m3, m4, m5 = Df[s3 + q], Df[s4 + q], Df[s5 + q]
            e[0, j, q] = c4 * m0
            e[1, j, q] = c4 * (m2 - m1) + c2 * (m4 - m3) + c4 * m5
            e[2, j, q] = -c5 * m0 - c4 * (m1 + m2) - m3 - m4
            e[3, j, q] = m1 - m2 + c2 * (m3 - m4) - c5 * m5
            e[4, j, q] = m0 + m1 + m2 + m3 + m4
            e[5, j, q] = m5


@njit(parallel=True, cache=True)
def _grad_input_nb(D, dx, pt, pl, ty0, ty1, ntx):
    """dx[c, 4ty-pt+a, 4tx-pl+b] += (B d B^T)[a, b] for the 36 products d of each tile (padding dropped).

    The transpose of _input_nb, by the same blocks of channels: B (6x6) down the rows of products in one
    flat loop over the block's (channel, tile) pairs, then across, a tile row at a time. Neighbouring tiles
    overlap by 2 columns, so each of the 6 rows is summed in a line over the padded width (columns 4, 5 of
    a tile land on columns 0, 1 of the next), then added onto dx. dx must start at zero: tile rows overlap
    by 2 too.
    """
    C, H, W = dx.shape
    T = (ty1 - ty0) * ntx
    cb, blocks = _channel_blocks(C, T)
    Df, CT = D.reshape(-1), np.uint64(C * T)
    n4 = ntx + 1
    one = np.ones(1, D.dtype)[0]
    c2 = one + one
    c4 = c2 + c2
    c5 = c4 + one
    lo, hi = min(pl, 4 * n4), min(4 * n4, W + pl)  # padded columns lo..hi-1 are x's columns 0..
    for blk in prange(blocks):
        c0 = blk * cb
        c1 = min(C, c0 + cb)
        L = (c1 - c0) * T
        e = np.empty((TAPS, TAPS, L), D.dtype)  # e[a, j, (channel, tile)] = (B d)[a, j]: B down the rows
        line = np.empty(4 * n4, D.dtype)  # line[q]: padded column q of the tile row's row a
        s4, s5 = np.empty(ntx, D.dtype), np.empty(ntx, D.dtype)  # each tile's columns 4 and 5
        _b_down_rows(Df, e, CT, np.uint64(c0 * T), L, c2, c4, c5)
        for c in range(c0, c1):
            for ty in range(ty0, ty1):
                l0 = (c - c0) * T + (ty - ty0) * ntx
                for a in range(TAPS):
                    m = TILE * ty - pt + a
                    if m < 0 or m >= H:
                        continue  # a padding row: its gradient is dropped
                    for tx in range(ntx):
                        m0, m1, m2 = e[a, 0, l0 + tx], e[a, 1, l0 + tx], e[a, 2, l0 + tx]
                        m3, m4, m5 = e[a, 3, l0 + tx], e[a, 4, l0 + tx], e[a, 5, l0 + tx]
                        line[4 * tx] = c4 * m0
                        line[4 * tx + 1] = c4 * (m2 - m1) + c2 * (m4 - m3) + c4 * m5
                        line[4 * tx + 2] = -c5 * m0 - c4 * (m1 + m2) - m3 - m4
                        line[4 * tx + 3] = m1 - m2 + c2 * (m3 - m4) - c5 * m5
                        s4[tx] = m0 + m1 + m2 + m3 + m4
                        s5[tx] = m5
                    for q in range(4 * ntx, 4 * n4):
                        line[q] = 0
                    for tx in range(ntx):
                        line[4 * tx + 4] += s4[tx]
                        line[4 * tx + 5] += s5[tx]
                    out = dx[c, m]
                    for q in range(lo, hi):
                        out[q - pl] += line[q]


# ---- transformed weights: made per call, kept from forward to backward by small layers only ----------
def transformed_weights(w):
    """U (36, K, C) = G w[k, c] G^T for w (K, C, 3, 3): one copy serves forward and input gradient.

    Not cached between calls (layers keep no state): kept, the U of every 3x3 layer (4x its weights) would
    stay resident, ~116 MB for VGG16 up to conv4_3, more than the rest of its step needs at 224 px. Made per
    call (forward and gradient) it costs ~6.5 ms per 512x512 layer on one core, ~40 ms of a VGG16 step.
    """
    return _transformed(KERNELS, w)


def kept_weights(kernels, w, N, Ho, Wo):
    """U for the layer's cache (forward makes it, backward reuses it), or None (each direction makes its
    own): the one place that decides what is kept.

    Kept when the layer has at most KEEP_TILES tiles and U is made whole anyway (<= WEIGHT_BUDGET): there
    making U costs as much as a good share of the products (GoogLeNet's 14x14 layers at 224 px: 16 tiles,
    U of 128->256 took 0.8 of 3.4 ms each way on one core). Each kept U is at most 8 MiB and lives on the
    tape from forward to backward; a big picture's layers (many tiles) keep nothing."""
    tiles = N * -(-Ho // kernels.tile) * -(-Wo // kernels.tile)
    if tiles > KEEP_TILES or TAPS * TAPS * w.shape[0] * w.shape[1] > WEIGHT_BUDGET:
        return None
    return _transformed(kernels, w)


def _transformed(kernels, w):
    """U (36, K, C) by the kernel set's weight transform."""
    U = np.empty((TAPS * TAPS, w.shape[0], w.shape[1]), w.dtype)
    kernels.weights(w, U)
    return U


# ---- the whole convolution, for either kernel set --------------------------------------------------
class Kernels(NamedTuple):
    """One Winograd algorithm F(tile x tile, r x r) with a 6x6 input tile: its output tile side and the module
    that holds its five Numba transforms under the same names (weights, input, output, and the gradient's
    output and input). They are looked up in the module at each call, not held here, so that whatever
    stands in the module now runs: on a fresh install, a kernel's serial twin (first_run.py)."""

    tile: int
    module: types.ModuleType

    weights = property(lambda self: self.module._weights_nb)
    input = property(lambda self: self.module._input_nb)
    output = property(lambda self: self.module._output_nb)
    grad_output = property(lambda self: self.module._grad_output_nb)
    grad_input = property(lambda self: self.module._grad_input_nb)


KERNELS = Kernels(TILE, sys.modules[__name__])


def applies(geo, C, K):
    """Winograd handles 3x3 and 5x5 (winograd5.py), stride 1, no dilation, one group, padding at most
    kernel - 1 on every side, >= 8 channels."""
    return (
        geo.kh == geo.kw
        and geo.kh in (3, 5)
        and (geo.sh, geo.sw, geo.dh, geo.dw, geo.groups) == (1, 1, 1, 1, 1)
        and 0 <= min(geo.pt, geo.pb, geo.pl, geo.pr)
        and max(geo.pt, geo.pb, geo.pl, geo.pr) <= geo.kh - 1
        and min(C, K) >= 8
    )


def _check(kernels, x_shape, w, geo):
    """Preconditions of both directions (checks.py): an r x r stride-1 window padded 0..r-1 (r = 3, 5 as
    the kernel set says), w (K, C, r, r)."""
    r = TAPS + 1 - kernels.tile
    checks.window(geo, "winograd conv")
    if (geo.kh, geo.kw) != (r, r) or not applies(geo, 8, 8):
        raise UserError(f"winograd conv: takes a {r}x{r} stride-1 window padded at most {r - 1}, got {geo}")
    checks.shape("winograd conv", "the weight", w, (w.shape[0], x_shape[1], r, r))
    Ho, Wo = out_size(x_shape[2], x_shape[3], geo)
    checks.output("winograd conv", Ho, Wo)
    return Ho, Wo


def _sliced_products(kernels, w, V, M, transposed=False):
    """M[ξ] = U[ξ] @ V[ξ] (or U[ξ]^T @ V[ξ] if transposed) for U = transformed_weights(w), ξ = 0..35,
    with U made a slice of output channels k at a time (at most WEIGHT_BUDGET elements), each used at once:
    a 512x512 layer never holds its whole 38 MB U. Forward, a slice gives rows k of M; transposed, the
    slices' products are summed over k (sgemm adding into M). Same products, in pieces."""
    K, C = w.shape[:2]
    step = max(1, WEIGHT_BUDGET // (TAPS * TAPS * C))
    for k0 in range(0, K, step):
        k1 = min(K, k0 + step)
        U = _transformed(kernels, w[k0:k1])  # (36, k1 - k0, C)
        if transposed:
            blas.matmul(U, V[:, k0:k1, :], M, trans_a=True, accumulate=k0 > 0)
        else:
            blas.matmul(U, V, M[:, k0:k1, :])


def _band_plan(kernels, w, N, nty, ntx, U=None):
    """Tile rows per band (its V and M buffers within BAND_BUDGET), and U when several bands share it
    (one band: None, and the products make U in slices, see _sliced_products).

    The buffers sit on top of a layer's input and output (and in backward, of dy and dx): at the first
    block of a VGG16 dream on a 451x300 picture, two 16 MiB buffers were a quarter of the step's peak, so
    they stay at 4 MiB each. A wide layer whose U is more than WEIGHT_BUDGET (256 channels and up: 9.4 MiB
    .. 36 MiB) would then need U whole for its several bands; it takes WIDE_BAND_BUDGET, so that a deep
    layer's small picture stays one band, made from U in slices, as before."""
    K, C = w.shape[:2]
    budget = BAND_BUDGET if TAPS * TAPS * K * C <= WEIGHT_BUDGET else WIDE_BAND_BUDGET
    rows = max(1, min(nty, budget // (TAPS * TAPS * max(C, K) * ntx)))
    return rows, (_transformed(kernels, w) if U is None and N * nty > rows else U)


def _products(kernels, U, w, V, M, transposed=False):
    """M[ξ] = U[ξ] @ V[ξ] (U[ξ]^T @ V[ξ] if transposed), from U if given, else from w in slices."""
    if U is None:
        _sliced_products(kernels, w, V, M, transposed)
    else:
        blas.matmul(U, V, M, trans_a=transposed)


def forward(kernels, x, w, geo, bias=None, relu=False, U=None):
    """y (N,K,Ho,Wo) = r x r correlation of x (N,C,H,W) with w (K,C,r,r), padded as geo says, by the
    kernel set `kernels` (KERNELS here for 3x3, winograd5.KERNELS for 5x5); U (36,K,C): w's transform if
    already made (kept_weights), else made here.

    Returns (y, mask): mask (N,K,Ho,Wo) bool is y > 0 when relu, else None.
    """
    Ho, Wo = _check(kernels, x.shape, w, geo)
    b = bias if bias is not None else np.zeros(w.shape[0], x.dtype)
    checks.floats("winograd conv", x, w, b)
    checks.shape("winograd conv", "the bias", b, (w.shape[0],))
    pt, pl, tile = geo.pt, geo.pl, kernels.tile
    N, C, H, W = x.shape
    K = w.shape[0]
    nty, ntx = -(-Ho // tile), -(-Wo // tile)
    rows, U = _band_plan(kernels, w, N, nty, ntx, _checked(U, w))
    Vbuf = np.empty(TAPS * TAPS * C * rows * ntx, x.dtype)  # flat, so every band's (36, C, T) is contiguous
    Mbuf = np.empty(TAPS * TAPS * K * rows * ntx, x.dtype)
    y = np.empty((N, K, Ho, Wo), x.dtype)
    mask = np.empty((N, K, Ho, Wo), np.bool_) if relu else np.empty((1, 1, 1, 1), np.bool_)
    for n in range(N):
        xn = x[n]
        for ty0 in range(0, nty, rows):
            ty1 = min(nty, ty0 + rows)
            T = (ty1 - ty0) * ntx
            V = Vbuf[: TAPS * TAPS * C * T].reshape(TAPS * TAPS, C, T)
            M = Mbuf[: TAPS * TAPS * K * T].reshape(TAPS * TAPS, K, T)
            kernels.input(xn, V, pt, pl, ty0, ty1, ntx)
            _products(kernels, U, w, V, M)
            kernels.output(M, y[n], b, relu, mask[n if relu else 0], ty0, ty1, ntx)
    return y, (mask if relu else None)


def backward(kernels, dy, w, geo, x_shape, mask=None, U=None):
    """dx (N,C,H,W) of `forward` for an input of x_shape: dy (N,K,Ho,Wo) back through the same tiles, with
    U of w (K,C,r,r) used transposed.

    mask (N,K,Ho,Wo) bool, if given, zeroes dy where False (the fused ReLU's backward) as dy is read.
    """
    Ho, Wo = _check(kernels, x_shape, w, geo)
    checks.floats("winograd conv gradient", dy, w)
    checks.shape("winograd conv gradient", "dL/dy", dy, (x_shape[0], w.shape[0], Ho, Wo))
    if mask is not None:
        checks.shape("winograd conv gradient", "the ReLU mask", mask, dy.shape)
    H, W, pt, pl, tile = x_shape[2], x_shape[3], geo.pt, geo.pl, kernels.tile
    N, K, Ho, Wo = dy.shape
    C = w.shape[1]
    nty, ntx = -(-Ho // tile), -(-Wo // tile)
    rows, U = _band_plan(kernels, w, N, nty, ntx, _checked(U, w))
    Dbuf = np.empty(TAPS * TAPS * K * rows * ntx, dy.dtype)  # (36, K, T) per band: A dY A^T
    Pbuf = np.empty(TAPS * TAPS * C * rows * ntx, dy.dtype)  # (36, C, T) per band: U^T @ D
    dx = np.zeros((N, C, H, W), dy.dtype)
    no_mask = np.empty((1, 1, 1), np.bool_)
    for n in range(N):
        for ty0 in range(0, nty, rows):
            ty1 = min(nty, ty0 + rows)
            T = (ty1 - ty0) * ntx
            D = Dbuf[: TAPS * TAPS * K * T].reshape(TAPS * TAPS, K, T)
            P = Pbuf[: TAPS * TAPS * C * T].reshape(TAPS * TAPS, C, T)
            kernels.grad_output(
                dy[n], no_mask if mask is None else mask[n], mask is not None, D, ty0, ty1, ntx
            )
            _products(kernels, U, w, D, P, transposed=True)
            kernels.grad_input(P, dx[n], pt, pl, ty0, ty1, ntx)
    return dx


def _checked(U, w):
    """U as given, after checking it is w's shape of transform (sgemm trusts shapes)."""
    if U is not None:
        checks.shape("winograd conv", "the transformed weight", U, (TAPS * TAPS, *w.shape[:2]))
    return U


def conv3x3(x, w, geo, bias=None, relu=False):
    """y (N,K,Ho,Wo) = 3x3 correlation of x (N,C,H,W) with w (K,C,3,3), padded as geo says.

    Returns (y, mask): mask (N,K,Ho,Wo) bool is y > 0 when relu, else None.
    """
    return forward(KERNELS, x, w, geo, bias, relu)


def conv3x3_grad(dy, w, geo, x_shape, mask=None):
    """dx (N,C,H,W) of conv3x3 for an input of x_shape: dy (N,K,Ho,Wo) back through the same tiles, with
    U of w (K,C,3,3) used transposed.

    mask (N,K,Ho,Wo) bool, if given, zeroes dy where False (the fused ReLU's backward) as dy is read.
    """
    return backward(KERNELS, dy, w, geo, x_shape, mask)
