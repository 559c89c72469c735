"""Recipes: a published dream's settings under one name, `--recipe google2015`, and its own arithmetic.

google2015 is google/deepdream's dream.ipynb (July 2015) on bvlc_googlenet, point by point:
    deepdream(iter_n=10, octave_n=4, octave_scale=1.4, end='inception_4c/output')
                                    steps 10, octaves 4, octave_scale 1.4, layers inception_4c/output
    make_step(step_size=1.5, jitter=32)
        g / mean|g| · step_size     normalize "mean", step_size 1.5 (GoogLeNet's input is in grey levels)
        objective_L2: dL/dh = h     our "layer" objective, 2h/n: the same after the division by mean|g|
        np.roll by (oy, ox), then back            wrap-around jitter (`roll`); scratchdream mirrors
        clip to [-mean, 255 - mean] after each step       lo, hi: the mean-subtracted pixel range
    octaves: each one nd.zoom(previous, 1/1.4, order=1)   `pyramid`: linear zoom, one from the next
    detail:  nd.zoom(detail, h/h1, order=1), base + detail, no clip     `reinject`
    the result: np.uint8(np.clip(...)) truncates                        `to_pixels`
    objective_guide at end='inception_3b/output', the guide's features from the whole guide
                                    guided: layers inception_3b/output, guide seen at its own size
What the notebook leaves to Caffe we cannot copy: it never tiles (tile 0 here) and fails on octaves smaller
than the net allows (here they are dropped, with a note). DreamOptions(notebook=True) switches the loop to
the functions below; tests/test_recipes.py holds a dream to a NumPy transcription of the notebook's steps.
"""

import numpy as np

from ..errors import UsageError
from ..nets.zoo import NOTEBOOK_2015

# the notebook's settings (GoogLeNet's dream defaults in the zoo), and what it leaves out: no smoothing,
# no tiling, and its own arithmetic (notebook=True)
GOOGLE2015 = {**NOTEBOOK_2015, "smooth": 0.0, "tile": 0, "notebook": True}
RECIPES = {"google2015": (GOOGLE2015, "inception_3b/output")}  # name -> (settings, the guided dream's layer)


def settings(name, guided=False):
    """The DreamOptions settings of recipe `name` (guided: the notebook's guided dream), or one line."""
    if name not in RECIPES:
        raise UsageError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    base, guided_layer = RECIPES[name]
    return {**base, "layers": [guided_layer]} if guided else dict(base)


# ---- the notebook's arithmetic ------------------------------------------------------------------------
def zoom(a, size):
    """a (..., h, w) resized to size (H, W) as scipy.ndimage.zoom(order=1) does: linear interpolation on a
    grid whose first and last samples sit on the first and last pixels (corners aligned)."""
    for axis, n in ((-2, size[0]), (-1, size[1])):
        a = _zoom_axis(a, n, axis)
    return a


def _zoom_axis(a, n, axis):
    m = a.shape[axis]
    if n == m:
        return a
    step = (m - 1) / (n - 1) if n > 1 else 1.0  # scipy: zoom factor 1 for a single output sample
    at = np.minimum(np.arange(n) * step, m - 1)  # where output sample i reads the input
    i0 = np.floor(at).astype(np.intp)
    i1 = np.minimum(i0 + 1, m - 1)
    t = (at - i0).reshape((-1,) + (1,) * (-axis - 1))  # broadcast along the axes after `axis`
    a64 = a.astype(np.float64, copy=False)
    out = (1 - t) * np.take(a64, i0, axis=axis) + t * np.take(a64, i1, axis=axis)
    return out.astype(a.dtype, copy=False)


def octave_sizes(H, W, octaves, scale):
    """The notebook's sizes, smallest first: each octave round(previous / scale) of the one above."""
    sizes = [(H, W)]
    for _ in range(octaves - 1):
        h, w = sizes[-1]
        sizes.append((max(1, int(round(h * (1.0 / scale)))), max(1, int(round(w * (1.0 / scale))))))
    return sizes[::-1]


def pyramid(base, sizes):
    """The picture at every size (smallest first), each zoomed from the next larger one, as the notebook."""
    out = [base]
    for size in reversed(sizes[:-1]):
        out.append(zoom(out[-1], size))
    return out[::-1]


def reinject(detail, base_k):
    """octave_base + nd.zoom(detail, ...): the detail zoomed onto this octave, not clipped."""
    return base_k + zoom(detail, base_k.shape[2:])


def roll(x, d):
    """np.roll by d = (dy, dx): what leaves one border comes in at the other."""
    return np.roll(x, d, axis=(2, 3))


def to_pixels(net, x):
    """The notebook's np.uint8(np.clip(deprocess(x), 0, 255)): truncated, where scratchdream rounds."""
    return net.deprocess(x, as_float=True).astype(np.uint8)
