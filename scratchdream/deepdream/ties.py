"""Ties in max pooling, and the project's rule for them: a sub-grey-level seeded noise before the first step.

Max pooling sends dL/dy to the one input that won its window (layers/pool.py). When several inputs tie,
every choice is a valid (sub)gradient, and both kernel sets pick the same one, the first maximum in
row-major window order. But a plain sky is constant along each row, so after a convolution almost every
2x2 window of the toy net's pool1 holds a tie (92% on the docs' sky), and the three convolution paths
(reference, im2col, Winograd) round differently: where im2col computes an exact tie, Winograd's tile
transforms leave one side 1e-7 ahead, and the gradient goes to another pixel. Measured on the toy net
(layer conv4, plain sky, float64): reference and Winograd gradients differ by a relative error of 0.36.

The rule: before the first step, the picture gets uniform noise of at most `GREY_LEVELS` grey level,
drawn from a seeded generator. That separates would-be ties by far more than rounding, so every kernel
path picks the same winner (float64: equal to ~1e-15), and it is invisible in the 8-bit output.
`dream` draws it from its own stream of `--seed`; `lecture` from `seed`. tests/test_ties.py holds the
three paths equal on a flat picture with the noise, and shows them apart without it.
"""

import numpy as np

GREY_LEVELS = 1.0  # the noise's largest size, in grey levels of 0..255


def break_ties(x, net, rng, grey_levels=GREY_LEVELS):
    """x (1, 3, H, W) in the net's input units plus uniform noise in ±grey_levels, kept in the pixel
    range; a new array of x's dtype."""
    lo, hi = net.input_range(x.dtype)
    grey = (hi - lo) / 255.0  # one grey level in input units, per channel (1, 3, 1, 1)
    noise = rng.uniform(-grey_levels, grey_levels, size=x.shape) * grey
    return np.clip(x + noise.astype(x.dtype), lo, hi)
