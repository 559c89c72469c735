"""Fast softmax: the same softmax_forward / softmax_backward as layers/softmax.py, in Numba.

p_k = exp(z_k - max z) / Σ_j exp(z_j - max z),  dz_k = p_k (dp_k - Σ_j p_j dp_j)
z, p (N, K) or (N, K, H, W)
"""

import numpy as np
from numba import njit, prange

from ...errors import UserError
from . import checks
from .threads import parallel_if_large


@njit(cache=True, parallel=True)
def _softmax_nb(z, p):
    """z, p (N, K, S): softmax over K for every (n, s); S = H·W (1 for a plain classifier)."""
    N, K, S = z.shape
    for q in prange(N * S):
        n, s = q // S, q % S
        m = z[n, 0, s]
        for k in range(1, K):
            m = max(m, z[n, k, s])
        total = 0.0
        for k in range(K):
            e = np.exp(z[n, k, s] - m)
            p[n, k, s] = e
            total += e
        for k in range(K):
            p[n, k, s] /= total


@njit(cache=True, parallel=True)
def _softmax_backward_nb(dp, p, dz):
    N, K, S = p.shape
    for q in prange(N * S):
        n, s = q // S, q % S
        dot = 0.0
        for k in range(K):
            dot += p[n, k, s] * dp[n, k, s]
        for k in range(K):
            dz[n, k, s] = p[n, k, s] * (dp[n, k, s] - dot)


def _as3(a):
    return a.reshape(a.shape[0], a.shape[1], -1)


@parallel_if_large
def softmax_forward(z):
    """z (N, K) or (N, K, H, W) -> (p same shape, cache = p)."""
    z = np.ascontiguousarray(z)
    checks.floats("softmax", z)
    if z.ndim < 2 or z.shape[1] < 1:
        raise UserError(f"softmax takes (N, K, ...) input with K >= 1, got shape {z.shape}")
    p = np.empty_like(z)
    _softmax_nb(_as3(z), _as3(p))
    return p, p


@parallel_if_large
def softmax_backward(dp, cache):
    """dp (shape of p) -> dz."""
    p = cache
    dp = np.ascontiguousarray(dp, dtype=p.dtype)
    checks.shape("softmax", "dL/dp", dp, p.shape)
    dz = np.empty_like(p)
    _softmax_backward_nb(_as3(dp), _as3(p), _as3(dz))
    return dz
