"""One step of gradient ascent on the pixels: slides 34 and 35 as code.

    slide 34   L(I) = h_ij²,   dL/di_mn = dL/dh_ij · dh_ij/di_mn
    slide 35   i_mn <- i_mn + eta · dL/di_mn, then feed the image back to the network

`gradient` is slide 34: forward to the layer(s), the objective and its dL/dh (objectives.py), and the
chain rule back to every pixel (Net.backward). `ascent_step` is slide 35, with the three things Deep
Dream adds around it: jitter (shift the picture, take the gradient, shift the gradient back), the
normalised gradient (normalize.py), and clipping so the pixels stay in 0..255. `climb` is the update
itself, shared with the lecture's own loop (lecture.py), and stops with one line if the gradient or the
picture is no longer finite.
"""

import numpy as np

from ..errors import UserError
from . import recipes
from .normalize import normalise
from .normalize import smooth as blur


def gradient(net, x, objective, shift=(0.0, 0.0), counts=None):
    """Slide 34 for the image x (1, 3, H, W): returns (L, dL/dI), dL/dI shaped like x."""
    h = net.forward(x, upto=objective.layers)  # feed the image to the network: h = {layer: h}
    L, dL_dh = objective(h, shift=shift, counts=counts)  # L(h) and its first factor dL/dh
    dL_dI = net.backward(dL_dh)  # the chain rule back to every pixel i_mn
    return L, dL_dI


def ascent_step(
    net, x, objective, eta, lo, hi, normalize="mean", smooth=0.0, roll=(0, 0), tiler=None, wrap=False
):
    """Slide 35 on x (1, 3, H, W), in place. Returns (L before the step, size of the raw gradient).

    eta (1, 3, 1, 1) is the step in input units per unit of normalised gradient; lo, hi the valid
    pixel range in input units; roll (dy, dx) the jitter in pixels (wrap: by np.roll, as the 2015
    notebook, instead of mirrored); tiler, when given, computes the gradient tile by tile (tiling.py).
    A zero gradient leaves x as it was (size 0.0).
    """
    H, W = x.shape[2:]
    if wrap:  # the 2015 notebook's np.roll: what leaves one border comes in at the other (recipes.py)
        jittered = recipes.roll(x, roll) if any(roll) else x
    else:  # mirrored borders need a roll of at most half the picture (small octaves)
        roll = (int(np.clip(roll[0], -(H // 2), H // 2)), int(np.clip(roll[1], -(W // 2), W // 2)))
        jittered = shift_picture(x, roll) if any(roll) else x  # jitter: shift the picture
    take_gradient = gradient if tiler is None else tiler.gradient  # in one pass, or tile by tile
    L, dL_dI = take_gradient(net, jittered, objective, (roll[0] / H, roll[1] / W))
    del jittered
    if any(roll):
        if wrap:
            dL_dI = recipes.roll(dL_dI, (-roll[0], -roll[1]))  # rolled back
        else:
            dL_dI = unshift_gradient(dL_dI, roll)  # ... and shift the gradient back
    g, size = normalise(blur(dL_dI, smooth), normalize, local=objective.local)
    if size == 0.0:
        return L, 0.0  # nothing to climb here
    climb(x, eta, g, lo, hi)
    return L, size


def climb(x, eta, g, lo, hi):
    """Slide 35 in place on x (1, 3, H, W): i_mn <- i_mn + eta · g_mn, then kept inside the pixel range.

    The lecture and the dream both step here, so both stop with one line, not a NaN picture, when the
    gradient or the picture is no longer a finite number (a step size far too large, weights that overflow).
    """
    if not np.isfinite(g).all():
        raise UserError(
            "the gradient became NaN or infinite, so nothing was written; "
            "try a smaller step size, the mean normalisation, or another layer"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows up just below, as inf or NaN
        x += eta * g  # slide 35: i_mn <- i_mn + eta · dL/di_mn
    np.clip(x, lo, hi, out=x)  # keep every pixel inside 0..255
    if not np.isfinite(x).all():  # clip keeps NaN
        raise UserError("the picture became NaN or infinite, so nothing was written; try a smaller step size")


# ---- jitter ----------------------------------------------------------------------------------------
# The original notebook rolls the picture (np.roll): the bottom rows wrap round to the top, so the net
# sees a hard false edge where sky meets ground and paints a band of patterns along both borders.
# Here the picture is shifted the same way but the rows and columns that come in at a border are the
# picture's own mirror image; their gradient is dropped (each step's shift is new, so every border
# pixel is reached in the other steps).
def shift_picture(x, d):
    """x (N, C, H, W) with its content moved by d = (dy, dx) pixels, mirrored at the borders."""
    (dy, dx), (H, W) = d, x.shape[2:]
    ay, ax = abs(dy), abs(dx)
    padded = np.pad(x, ((0, 0), (0, 0), (ay, ay), (ax, ax)), mode="reflect")
    return np.ascontiguousarray(padded[:, :, ay - dy : ay - dy + H, ax - dx : ax - dx + W])


def unshift_gradient(g, d):
    """The gradient w.r.t. the shifted picture, moved back onto the picture's own pixels (mirrored: 0)."""
    (dy, dx), (H, W) = d, g.shape[2:]
    out = np.zeros_like(g)
    out[:, :, max(0, -dy) : H - max(0, dy), max(0, -dx) : W - max(0, dx)] = g[
        :, :, max(0, dy) : H - max(0, -dy), max(0, dx) : W - max(0, -dx)
    ]
    return out
