"""The classic zoom animation: dream, zoom in a little on the centre, dream again, and again.

Each frame starts from the previous frame's dream, magnified by `zoom` about its centre (crop the middle
1/zoom of the picture and scale it back up), so the dream keeps finding new patterns in its own patterns.
"""

import sys

import numpy as np

from .loop import dream


def zoom_in(img, factor):
    """Magnify the centre of img (H, W, 3) uint8 by `factor` (> 1), keeping its size."""
    from PIL import Image

    H, W = img.shape[:2]
    w, h = W / factor, H / factor
    box = ((W - w) / 2, (H - h) / 2, (W + w) / 2, (H + h) / 2)  # fractional crop box, centred
    return np.asarray(Image.fromarray(img).resize((W, H), Image.BICUBIC, box=box))


def zoom(net, img, frames=30, factor=1.05, seed=0, progress=True, on_frame=None, **dream_options):
    """Dream `frames` times, zooming in by `factor` between frames; on_frame(k, picture) gets each dream.
    Frame k uses seed + k, so the whole animation is reproducible from `seed`. Returns the last frame."""
    from tqdm import tqdm

    picture = img
    for k in tqdm(range(frames), desc="zoom", unit="frame", disable=not progress, file=sys.stderr):
        if k > 0:
            picture = zoom_in(picture, factor)
        picture = dream(net, picture, seed=seed + k, progress=False, **dream_options)
        if on_frame is not None:
            on_frame(k, picture)
    return picture
