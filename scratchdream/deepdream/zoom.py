"""The classic zoom animation: dream, zoom in a little on the centre, dream again, and again.

Each frame starts from the previous frame's dream, magnified by `zoom` about its centre (crop the middle
1/zoom of the picture and scale it back up), so the dream keeps finding new patterns in its own patterns.
"""

import sys
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from ..layers.kernel_sets import note_compiling
from . import defaults, loop
from .options import DreamOptions, check, check_picture


def zoom_in(img, factor):
    """Magnify the centre of img (H, W, 3) uint8 by `factor` (> 1), keeping its size."""
    from PIL import Image  # Pillow loads in a tenth of a second: only when a zoom runs

    H, W = img.shape[:2]
    w, h = W / factor, H / factor
    box = ((W - w) / 2, (H - h) / 2, (W + w) / 2, (H + h) / 2)  # fractional crop box, centred
    return np.asarray(Image.fromarray(img).resize((W, H), Image.BICUBIC, box=box))


def zoom(net, img, frames=30, factor=1.05, *, progress=True, on_frame=None, **settings):
    """Dream `frames` times, zooming in by `factor` between frames; on_frame(k, picture) gets each dream.
    settings are DreamOptions' (options.py; each one not given: the net's dream defaults, defaults.py).
    Returns the last frame."""
    options = defaults.for_net(net, DreamOptions(**settings), settings)  # the net's, unless given
    return run(net, img, options, frames, factor, progress, on_frame)


def run(net, img, options, frames=30, factor=1.05, progress=True, on_frame=None):
    """zoom with its dream settings in a DreamOptions. Frame k dreams with seed options.seed + k, so the
    whole animation is reproducible from one seed."""
    frames, factor = check("frames", frames), check("factor", factor)
    picture = check_picture("img", img)
    if progress:  # a fresh install compiles the kernels at the first step: say so then
        note_compiling()
    for k in tqdm(range(frames), desc="zoom", unit="frame", disable=not progress, file=sys.stderr):
        if k > 0:
            picture = zoom_in(picture, factor)
        picture = loop.run(net, picture, replace(options, seed=options.seed + k), progress=False)
        if on_frame is not None:
            on_frame(k, picture)
    return picture
