"""Softmax over the classes (axis 1): the class probabilities at the top of a classifier.

    forward   p_k = exp(z_k - max z) / Σ_j exp(z_j - max z)     z (N, K) (or (N, K, H, W)) -> p same shape
    backward  dz_k = p_k (dp_k - Σ_j p_j dp_j)                  (the Jacobian diag(p) - p pᵀ applied to dp)
Subtracting max z changes nothing mathematically and keeps exp from overflowing. The cache is p itself.
"""

import numpy as np


def softmax_forward(z):
    """z (N, K) or (N, K, H, W) -> (p same shape, cache = p)."""
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return p, p


def softmax_backward(dp, cache):
    """dp (shape of p) -> dz."""
    p = cache
    return p * (dp - np.sum(p * dp, axis=1, keepdims=True))
