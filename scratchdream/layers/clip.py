"""Clip: the activation held between two bounds, h = min(max(a, lo), hi); ReLU6 is clip(a, 0, 6).

    forward   y = min(max(x, lo), hi)              x, y (any shape, usually (N, C, H, W)), lo < hi
    backward  dx = dy · [lo < x < hi]             the kinks pass no gradient (PyTorch's ReLU6/Hardtanh)
The cache is the mask [lo < x < hi] as one byte per element, not a copy of x: all backward reads.
ONNX's Clip (MobileNet's ReLU6) and PyTorch's nn.ReLU6 / nn.Hardtanh are this layer.
"""

import numpy as np


def clip_forward(x, lo, hi):
    """x (any shape), lo < hi -> (y same shape, cache = bool mask lo < x < hi). A NaN becomes lo (the
    fast kernel's rule: it is neither inside nor above)."""
    x = np.asarray(x)
    t = x.dtype.type
    mask = (x > lo) & (x < hi)
    return np.where(mask, x, np.where(x >= hi, t(hi), t(lo))), mask


def clip_backward(dy, cache):
    """dy (shape of y), cache = mask -> dx = dy · mask."""
    mask = cache
    return np.where(mask, dy, 0)
