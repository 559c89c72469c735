"""The whole dream: "feed it back to the network, repeat" (slide 35), at several scales, with progress.

    img -> preprocess -> for each octave (small to large): for each step: ascent_step -> deprocess -> img

`dream` is the Python API (`sd.dream`); the CLI builds the same DreamOptions and calls `run`. The
settings are checked where they are made (options.py), every decision that needs the net and the
picture is taken once before the first step (plan.py), and what is left here is the loop itself.
"""

import sys

import numpy as np
from tqdm import tqdm

from ..errors import UserError
from ..image_io import resize
from . import recipes
from .ascent import ascent_step
from .octaves import pyramid, reinject
from .options import DreamOptions, check_picture
from .plan import in_bands, make_plan


def dream(net, img, *, progress=True, on_frame=None, **settings):
    """Deep Dream on img (H, W, 3) uint8 RGB; returns a new (H, W, 3) uint8 RGB image.

    settings    keyword arguments of DreamOptions: layers, channel, neuron, octaves, octave_scale, steps,
                step_size, jitter, normalize, smooth, tile, tile_margin, guide, start, seed (options.py
                says what each one does, its default and its range)
    progress    tqdm bars on stderr; on_frame(frame) gets the full-size uint8 picture after every step
    """
    return run(net, img, DreamOptions(**settings), progress, on_frame)


def run(net, img, options, progress=True, on_frame=None, on_plan=None):
    """sd.dream with its settings in a DreamOptions: the octave loop around the step loop.
    on_plan(plan) is called once every setting is checked, before the first step (the CLI's estimate)."""
    plan = make_plan(net, check_picture("img", img), options, progress)
    if on_plan is not None:
        on_plan(plan)
    objective, eta, lo, hi = plan.objective, plan.eta, plan.lo, plan.hi  # the same at every step
    normalize, smooth = options.normalize, options.smooth
    bases = (recipes.pyramid if options.notebook else pyramid)(plan.start, [o.size for o in plan.octaves])
    detail, moved, last = np.zeros_like(bases[0]), False, len(bases) - 1
    for k, (octave, base_k) in enumerate(zip(plan.octaves, bases)):
        if options.notebook:  # the 2015 notebook's own zoom, and no clip here (recipes.py)
            x = recipes.reinject(detail, base_k)
        else:
            x = reinject(detail, base_k)  # upscale the detail so far onto this scale
            np.clip(x, lo, hi, out=x)
        bar = _bar(options.steps, k, octave.size, len(bases), progress)
        for _ in bar:  # feed the picture back, repeat
            roll = _roll(plan.jitter_rng, options.jitter)
            L, g_size = ascent_step(
                net, x, objective, eta, lo, hi, normalize, smooth, roll, octave.tiler, wrap=options.notebook
            )
            moved |= g_size > 0
            bar.set_postfix(L=f"{L:.4g}", refresh=False)
            if on_frame is not None:  # the picture at full size: the detail so far on the full-size start
                full = x if k == last else plan.start + resize(x - base_k, plan.start.shape[2:])
                on_frame(net.deprocess(full))
        bar.close()
        detail = x - base_k  # what was dreamed at this scale and below
    if not moved:
        raise UserError(
            "the objective's gradient is zero on this picture (the chosen channel, neuron or layer "
            "never fires here), so nothing was dreamed; choose another channel, neuron or layer"
        )
    return in_bands((lambda a: recipes.to_pixels(net, a)) if options.notebook else net.deprocess, x, axis=2)


def _bar(steps, k, size, n_octaves, progress):
    """The steps of octave k as a tqdm progress bar on stderr (a plain range when progress is off)."""
    return tqdm(
        range(steps),
        desc=f"octave {k + 1}/{n_octaves} {size[1]}x{size[0]}",
        unit="step",
        disable=not progress,
        file=sys.stderr,
        leave=True,
        dynamic_ncols=True,
    )


def _roll(rng, jitter):
    """The jitter of one step: a random shift (dy, dx) of up to `jitter` pixels each way."""
    return tuple(int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
