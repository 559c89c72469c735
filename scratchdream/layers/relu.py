"""ReLU, the non-linearity after every convolution: h = max(a, 0).

    forward   y = max(x, 0)                    x, y (any shape, usually (N, C, H, W))
    backward  dx = dy · [x > 0]                the kink at 0 passes no gradient (PyTorch's convention)
The cache is the mask [x > 0] as one byte per element (bool), not a copy of x: that is all backward reads.
Convolutions can fuse their ReLU (conv_forward(..., relu=True)); this module is the stand-alone layer.
"""

import numpy as np


def relu_forward(x):
    """x (any shape) -> (y same shape, cache = bool mask x > 0)."""
    mask = np.asarray(x) > 0  # a NaN is not > 0: it becomes 0, as in the fast kernel
    return np.where(mask, x, 0), mask


def relu_backward(dy, cache):
    """dy (shape of y), cache = mask -> dx = dy · mask."""
    mask = cache
    return np.where(mask, dy, 0)
