"""Leaky ReLU: a ReLU that lets a small slope through below zero, h = max(a, alpha·a) for 0 <= alpha < 1.

    forward   y = x if x > 0 else alpha·x          x, y (any shape, usually (N, C, H, W))
    backward  dx = dy · (1 if x > 0 else alpha)     at the kink (x = 0) the slope is alpha (PyTorch's)
The cache is (mask [x > 0] as one byte per element, alpha): all backward reads. ONNX's LeakyRelu (alpha 0.01
by default) and PyTorch's nn.LeakyReLU are this layer; alpha = 0 is the plain ReLU (layers/relu.py).
"""

import numpy as np


def leaky_relu_forward(x, alpha):
    """x (any shape), alpha (a number) -> (y same shape, cache = (bool mask x > 0, alpha))."""
    x = np.asarray(x)
    mask = x > 0  # a NaN is not > 0: alpha·NaN stays NaN, as in the fast kernel
    return np.where(mask, x, x * x.dtype.type(alpha)), (mask, alpha)


def leaky_relu_backward(dy, cache):
    """dy (shape of y), cache = (mask, alpha) -> dx = dy · (1 where mask, else alpha)."""
    mask, alpha = cache
    dy = np.asarray(dy)
    return np.where(mask, dy, dy * dy.dtype.type(alpha))
