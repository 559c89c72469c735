"""Winograd F(2x2, 5x5): the fast conv (layers/fast/conv.py) of a 5x5 stride-1 convolution (GoogLeNet's
5x5 branches), forward and input gradient, with 9 instead of 25 multiplications per output.

The same six points as F(4x4, 3x3) (0, 1, -1, 2, -2, inf; winograd.py explains why it is exact), so the
same 6x6 input tile and the same data matrix B^T; only the kernel's G (6x5) and the output's A^T (2x6)
change, and the tiles step by 2 instead of 4 (neighbouring input tiles overlap by 4):
    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,   2x2 outputs per 6x6 tile,   M[ξ] (K, T) = U[ξ] (K, C) @ V[ξ] (C, T)
Everything around the transforms (bands, BLAS products, U made in slices, the adjoint run backwards with
the same U) is winograd.py's, given this module's kernels (`KERNELS`). `_conv5x5_ref` and
`_conv5x5_grad_ref` write the matrices out, for the tests. float32 error is of the same order as F(4x4,3x3)
(G's entries reach 2/3, A^T's 2; tests/test_conv.py holds it under 1e-4).
"""

import sys

import numpy as np
from numba import njit, prange

from . import winograd
from .winograd import BT, TAPS, _b_down_rows, _channel_blocks

TILE = 2  # output tile side: 2 + 5 - 1 = 6 = TAPS

# Rows of G and columns of A^T are the points p = 0, 1, -1, 2, -2, inf: G[j] = (1, p, .., p^4) / prod_{l != j}
# (p_j - p_l) over the finite points, A^T[i, j] = p_j^i (the infinite point: the last row, the last column).
G = np.array(
    [
        [1 / 4, 0, 0, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
        [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3],
        [0, 0, 0, 0, 1],
    ],
    np.float64,
)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]], np.float64)


# ---- the plain NumPy reference ------------------------------------------------------------------------
def _tiles(nty, ntx):
    """Padded rows (nty, 6) and columns (ntx, 6) of every 6x6 input tile."""
    return TILE * np.arange(nty)[:, None] + np.arange(TAPS), TILE * np.arange(ntx)[:, None] + np.arange(TAPS)


def _pads(H, W, pt, pl, nty, ntx):
    """(top, bottom), (left, right) zero padding that makes every tile whole (bottom, right >= 0)."""
    return (pt, TILE * nty + 4 - H - pt), (pl, TILE * ntx + 4 - W - pl)


def _conv5x5_ref(x, w, pt, pl, Ho, Wo):
    """y (N,K,Ho,Wo) = A^T [ sum_c (G w G^T) ⊙ (B^T d B) ] A per 6x6 tile d of x (N,C,H,W); no bias."""
    N, C, H, W = x.shape
    nty, ntx = -(-Ho // TILE), -(-Wo // TILE)
    xp = np.pad(x, ((0, 0), (0, 0), *_pads(H, W, pt, pl, nty, ntx)))
    r, q = _tiles(nty, ntx)
    d = xp[:, :, r[:, :, None, None], q[None, None, :, :]]  # (N, C, nty, 6, ntx, 6)
    V = np.einsum("ai,ncyixj,bj->ncyxab", BT, d, BT)
    U = np.einsum("ai,kcij,bj->kcab", G, w, G)
    M = np.einsum("kcab,ncyxab->nkyxab", U, V)
    Y = np.einsum("ia,nkyxab,jb->nkyixj", AT, M, AT)  # (N, K, nty, 2, ntx, 2)
    return Y.reshape(N, -1, TILE * nty, TILE * ntx)[:, :, :Ho, :Wo]


def _conv5x5_grad_ref(dy, w, pt, pl, H, W):
    """dx (N,C,H,W): _conv5x5_ref backwards: dM = A dY A^T, dV = U^T dM, dd = B dV B^T, tiles added back."""
    N, K, Ho, Wo = dy.shape
    nty, ntx = -(-Ho // TILE), -(-Wo // TILE)
    dY = np.zeros((N, K, TILE * nty, TILE * ntx), dy.dtype)
    dY[:, :, :Ho, :Wo] = dy
    dM = np.einsum("ia,nkyixj,jb->nkyxab", AT, dY.reshape(N, K, nty, TILE, ntx, TILE), AT)
    U = np.einsum("ai,kcij,bj->kcab", G, w, G)
    dV = np.einsum("kcab,nkyxab->ncyxab", U, dM)
    dd = np.einsum("ai,ncyxab,bj->ncyixj", BT, dV, BT)  # (N, C, nty, 6, ntx, 6)
    dxp = np.zeros((N, w.shape[1], TILE * nty + 4, TILE * ntx + 4), dy.dtype)
    for ty in range(nty):
        for tx in range(ntx):
            dxp[:, :, TILE * ty : TILE * ty + TAPS, TILE * tx : TILE * tx + TAPS] += dd[:, :, ty, :, tx, :]
    return dxp[:, :, pt : pt + H, pl : pl + W]


# ---- the Numba kernels: the matrices as sums, tiles split by column parity (loops over consecutive tiles)
@njit(inline="always")
def _g_line(g0, g1, g2, g3, g4, dst, a0, k, c, r4, r6, r24, c2, c4, c8, c16):
    """dst[a0 + i, k, c] = (G g)[i], i = 0..5, for the kernel line g = (g0, .., g4)."""
    dst[a0, k, c] = g0 * r4
    dst[a0 + 1, k, c] = -(g0 + g1 + g2 + g3 + g4) * r6
    dst[a0 + 2, k, c] = -(g0 - g1 + g2 - g3 + g4) * r6
    dst[a0 + 3, k, c] = (g0 + c2 * g1 + c4 * g2 + c8 * g3 + c16 * g4) * r24
    dst[a0 + 4, k, c] = (g0 - c2 * g1 + c4 * g2 - c8 * g3 + c16 * g4) * r24
    dst[a0 + 5, k, c] = g4


@njit(parallel=True, cache=True)
def _weights_nb(w, U):
    """U[6a+b, k, c] = (G w[k,c] G^T)[a, b]; w (K,C,5,5) -> U (36,K,C). G down the columns, then across."""
    K, C = w.shape[:2]
    one = np.ones(1, U.dtype)[0]
    c2 = one + one
    c4 = c2 + c2
    c8 = c4 + c4
    c16, c6 = c8 + c8, c4 + c2
    r4, r6, r24 = one / c4, one / c6, one / (c6 * c4)
    for k in prange(K):
        g = np.empty((25, C), U.dtype)  # g[5u + v, c] = w[k, c, u, v]
        t = np.empty((TAPS, 5, C), U.dtype)  # t[a, v, c] = (G g)[a, v]
        for c in range(C):
            for j in range(25):
                g[j, c] = w[k, c, j // 5, j % 5]
        for v in range(5):
            for c in range(C):
                _g_line(
                    g[v, c],
                    g[5 + v, c],
                    g[10 + v, c],
                    g[15 + v, c],
                    g[20 + v, c],
                    t,
                    0,
                    v,
                    c,
                    r4,
                    r6,
                    r24,
                    c2,
                    c4,
                    c8,
                    c16,
                )
        for a in range(TAPS):
            for c in range(C):
                _g_line(
                    t[a, 0, c],
                    t[a, 1, c],
                    t[a, 2, c],
                    t[a, 3, c],
                    t[a, 4, c],
                    U,
                    TAPS * a,
                    k,
                    c,
                    r4,
                    r6,
                    r24,
                    c2,
                    c4,
                    c8,
                    c16,
                )


@njit(parallel=True, cache=True)
def _input_nb(x, V, pt, pl, ty0, ty1, ntx):
    """V[6a+b, c, t] = (B^T d B)[a, b] for the 6x6 input tile d of tile t (zero outside x), tiles 2 apart.

    As winograd._input_nb: one tile row at a time, its 6 input rows copied split by column parity, B^T
    down the columns, then B across (tile tx reads parities 0, 1 at tx, tx + 1 and tx + 2)."""
    C, H, W = x.shape
    n2 = ntx + 2
    one = np.ones(1, V.dtype)[0]
    c2 = one + one
    c4 = c2 + c2
    c5 = c4 + one
    lo, hi = min(pl, 2 * n2), min(2 * n2, W + pl)
    for c in prange(C):
        xr = np.zeros((TAPS, 2, n2), V.dtype)  # xr[j, q % 2, q // 2] = x[c, m0 + j, q - pl]
        e = np.empty((TAPS, 2, n2), V.dtype)
        for ty in range(ty0, ty1):
            m0 = TILE * ty - pt
            for j in range(TAPS):
                m = m0 + j
                if m < 0 or m >= H:
                    xr[j] = 0
                    continue
                for q in range(lo):
                    xr[j, q & 1, q >> 1] = 0
                for q in range(lo, hi):
                    xr[j, q & 1, q >> 1] = x[c, m, q - pl]
                for q in range(hi, 2 * n2):
                    xr[j, q & 1, q >> 1] = 0
            for ph in range(2):
                for tx in range(n2):
                    d0, d1, d2 = xr[0, ph, tx], xr[1, ph, tx], xr[2, ph, tx]
                    d3, d4, d5 = xr[3, ph, tx], xr[4, ph, tx], xr[5, ph, tx]
                    e[0, ph, tx] = c4 * d0 - c5 * d2 + d4
                    e[1, ph, tx] = d3 + d4 - c4 * (d1 + d2)
                    e[2, ph, tx] = c4 * (d1 - d2) - d3 + d4
                    e[3, ph, tx] = c2 * (d3 - d1) - d2 + d4
                    e[4, ph, tx] = c2 * (d1 - d3) - d2 + d4
                    e[5, ph, tx] = c4 * d1 - c5 * d3 + d5
            t0 = (ty - ty0) * ntx
            for a in range(TAPS):
                r = TAPS * a
                for tx in range(ntx):
                    d0, d1, d2, d3 = e[a, 0, tx], e[a, 1, tx], e[a, 0, tx + 1], e[a, 1, tx + 1]
                    d4, d5 = e[a, 0, tx + 2], e[a, 1, tx + 2]
                    V[r, c, t0 + tx] = c4 * d0 - c5 * d2 + d4
                    V[r + 1, c, t0 + tx] = d3 + d4 - c4 * (d1 + d2)
                    V[r + 2, c, t0 + tx] = c4 * (d1 - d2) - d3 + d4
                    V[r + 3, c, t0 + tx] = c2 * (d3 - d1) - d2 + d4
                    V[r + 4, c, t0 + tx] = c2 * (d1 - d3) - d2 + d4
                    V[r + 5, c, t0 + tx] = c4 * d1 - c5 * d3 + d5


@njit(parallel=True, cache=True)
def _output_nb(M, y, bias, relu, mask, ty0, ty1, ntx):
    """y[k, 2ty+i, 2tx+j] = (A^T m A)[i, j] + bias[k] (then ReLU, mask = y > 0) for the 36 products m of
    each tile: as winograd._output_nb, by blocks of channels (A^T down the rows of products in one flat
    loop over the block's (channel, tile) pairs, then across, then bias and ReLU on the way out)."""
    K, Ho, Wo = y.shape
    T = (ty1 - ty0) * ntx
    kb, blocks = _channel_blocks(K, T)
    Mf, KT = M.reshape(-1), np.uint64(K * T)  # unsigned offsets: no wrap checks
    one = np.ones(1, M.dtype)[0]
    c2 = one + one
    for blk in prange(blocks):
        k0 = blk * kb
        k1 = min(K, k0 + kb)
        L = (k1 - k0) * T
        e = np.empty((TILE, TAPS, L), M.dtype)  # A^T m: (out row i, product column b, (channel, tile))
        row = np.empty((TILE, ntx), M.dtype)  # row[j, tx] = y[k, r, 2tx + j]
        for b in range(TAPS):
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
                e[0, b, q] = m0 + m1 + m2 + m3 + m4
                e[1, b, q] = m1 - m2 + c2 * (m3 - m4) + m5
        for k in range(k0, k1):
            bk = bias[k]
            for ty in range(ty0, ty1):
                l0 = (k - k0) * T + (ty - ty0) * ntx
                for i in range(min(TILE, Ho - TILE * ty)):
                    for tx in range(ntx):
                        m0, m1, m2 = e[i, 0, l0 + tx], e[i, 1, l0 + tx], e[i, 2, l0 + tx]
                        m3, m4, m5 = e[i, 3, l0 + tx], e[i, 4, l0 + tx], e[i, 5, l0 + tx]
                        row[0, tx] = m0 + m1 + m2 + m3 + m4
                        row[1, tx] = m1 - m2 + c2 * (m3 - m4) + m5
                    yr = TILE * ty + i
                    if relu:
                        for j in range(Wo):
                            v = row[j & 1, j >> 1] + bk
                            mask[k, yr, j] = v > 0
                            y[k, yr, j] = max(v, 0)
                    else:
                        for j in range(Wo):
                            y[k, yr, j] = row[j & 1, j >> 1] + bk


@njit(parallel=True, cache=True)
def _grad_output_nb(dy, mask, masked, D, ty0, ty1, ntx):
    """D[6a+b, k, t] = (A dY A^T)[a, b] for the 2x2 gradient tile dY of tile t (dy where mask, if masked;
    0 past Ho, Wo): the transpose of _output_nb, by the same blocks of channels."""
    K, Ho, Wo = dy.shape
    T = (ty1 - ty0) * ntx
    kb, blocks = _channel_blocks(K, T)
    Df, KT = D.reshape(-1), np.uint64(K * T)
    one = np.ones(1, D.dtype)[0]
    zero = one - one
    c2 = one + one
    for blk in prange(blocks):
        k0 = blk * kb
        k1 = min(K, k0 + kb)
        L = (k1 - k0) * T
        r2 = np.zeros((TILE, 2, ntx), D.dtype)  # r2[i, j, tx] = dy[k, 2ty + i, 2tx + j]
        e = np.empty((TAPS, 2, L), D.dtype)  # A r2, down the columns: (a, column j, (channel, tile))
        line = np.empty(Wo, D.dtype)  # one masked row: a contiguous loop the compiler vectorises
        for k in range(k0, k1):
            for ty in range(ty0, ty1):
                for i in range(TILE):
                    m = TILE * ty + i
                    if m >= Ho:
                        r2[i] = 0
                        continue
                    src = dy[k, m]
                    if masked:
                        keep = mask[k, m]
                        for j in range(Wo):
                            line[j] = src[j] if keep[j] else zero
                        src = line
                    for j in range(Wo):
                        r2[i, j & 1, j >> 1] = src[j]
                    for j in range(Wo, TILE * ntx):
                        r2[i, j & 1, j >> 1] = 0
                l0 = (k - k0) * T + (ty - ty0) * ntx
                for ph in range(2):
                    for tx in range(ntx):
                        d0, d1 = r2[0, ph, tx], r2[1, ph, tx]
                        e[0, ph, l0 + tx] = d0
                        e[1, ph, l0 + tx] = d0 + d1
                        e[2, ph, l0 + tx] = d0 - d1
                        e[3, ph, l0 + tx] = d0 + c2 * d1
                        e[4, ph, l0 + tx] = d0 - c2 * d1
                        e[5, ph, l0 + tx] = d1
        for a in range(TAPS):
            s0 = np.uint64(TAPS * a) * KT + np.uint64(k0 * T)
            s1 = s0 + KT  # rows 6a + 1 .. 6a + 5 of D, the same (channel, tile)
            s2 = s1 + KT
            s3 = s2 + KT
            s4 = s3 + KT
            s5 = s4 + KT
            for q in range(np.uint64(L)):
                d0, d1 = e[a, 0, q], e[a, 1, q]
                Df[s0 + q] = d0
                Df[s1 + q] = d0 + d1
                Df[s2 + q] = d0 - d1
                Df[s3 + q] = d0 + c2 * d1
                Df[s4 + q] = d0 - c2 * d1
                Df[s5 + q] = d1


@njit(parallel=True, cache=True)
def _grad_input_nb(D, dx, pt, pl, ty0, ty1, ntx):
    """dx[c, 2ty-pt+a, 2tx-pl+b] += (B d B^T)[a, b] for the 36 products d of each tile (padding dropped):
    the transpose of _input_nb. Each row's 6 columns per tile go to f, then onto the row split by column
    parity (tiles overlap by 4 columns), then onto dx. dx must start at zero (tile rows overlap too)."""
    C, H, W = dx.shape
    n2 = ntx + 2
    one = np.ones(1, D.dtype)[0]
    c2 = one + one
    c4 = c2 + c2
    c5 = c4 + one
    lo, hi = min(pl, 2 * n2), min(2 * n2, W + pl)
    T = (ty1 - ty0) * ntx
    cb, blocks = _channel_blocks(C, T)
    Df, CT = D.reshape(-1), np.uint64(C * T)  # unsigned offsets: no wrap checks
    for blk in prange(blocks):  # by blocks of channels, as winograd._grad_input_nb
        c0 = blk * cb
        c1 = min(C, c0 + cb)
        L = (c1 - c0) * T
        e = np.empty((TAPS, TAPS, L), D.dtype)  # e[a, j, (channel, tile)] = (B d)[a, j]
        f = np.empty((TAPS, ntx), D.dtype)  # f[b, tx]: column b of tile tx in the row
        line = np.empty((2, n2), D.dtype)  # line[q % 2, q // 2]: padded column q of the row
        _b_down_rows(Df, e, CT, np.uint64(c0 * T), L, c2, c4, c5)
        for c in range(c0, c1):
            for ty in range(ty0, ty1):
                l0 = (c - c0) * T + (ty - ty0) * ntx
                for a in range(TAPS):
                    m = TILE * ty - pt + a
                    if m < 0 or m >= H:
                        continue
                    for tx in range(ntx):
                        m0, m1, m2 = e[a, 0, l0 + tx], e[a, 1, l0 + tx], e[a, 2, l0 + tx]
                        m3, m4, m5 = e[a, 3, l0 + tx], e[a, 4, l0 + tx], e[a, 5, l0 + tx]
                        f[0, tx] = c4 * m0
                        f[1, tx] = c4 * (m2 - m1) + c2 * (m4 - m3) + c4 * m5
                        f[2, tx] = -c5 * m0 - c4 * (m1 + m2) - m3 - m4
                        f[3, tx] = m1 - m2 + c2 * (m3 - m4) - c5 * m5
                        f[4, tx] = m0 + m1 + m2 + m3 + m4
                        f[5, tx] = m5
                    line[:] = 0
                    for b in range(TAPS):  # column 2tx + b: parity b % 2, index tx + b // 2
                        ph, off = b & 1, b >> 1
                        for tx in range(ntx):
                            line[ph, tx + off] += f[b, tx]
                    out = dx[c, m]
                    for q in range(lo, hi):
                        out[q - pl] += line[q & 1, q >> 1]


KERNELS = winograd.Kernels(TILE, sys.modules[__name__])


def conv5x5(x, w, geo, bias=None, relu=False):
    """y (N,K,Ho,Wo), mask: winograd.conv3x3 for a 5x5 kernel w (K,C,5,5)."""
    return winograd.forward(KERNELS, x, w, geo, bias, relu)


def conv5x5_grad(dy, w, geo, x_shape, mask=None):
    """dx (N,C,H,W): winograd.conv3x3_grad for a 5x5 kernel w (K,C,5,5)."""
    return winograd.backward(KERNELS, dy, w, geo, x_shape, mask)
