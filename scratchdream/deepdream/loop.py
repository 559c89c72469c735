"""The whole dream: "feed it back to the network, repeat" (slide 35), at several scales, with progress.

    img -> preprocess -> for each octave (small to large): for each step: ascent_step -> deprocess -> img

`dream` is the Python API (`sd.dream`); the CLI builds the same DreamOptions and calls `run`. The
settings are checked where they are made (options.py), every decision that needs the net and the
picture is taken once before the first step (plan.py), and what is left here is the loop itself.
"""

import sys
from contextlib import contextmanager

import numpy as np
from tqdm import tqdm

from ..errors import UserError
from ..image_io import resize
from ..layers.kernel_sets import compile_in_background, note_compiling
from . import defaults, recipes
from .ascent import ascent_step
from .octaves import pyramid, reinject
from .options import DreamOptions, check_picture
from .plan import in_bands, make_plan


def dream(net, img, *, progress=True, on_frame=None, **settings):
    """Deep Dream on img (H, W, 3) uint8 RGB; returns a new (H, W, 3) uint8 RGB image.

    settings    keyword arguments of DreamOptions: layers, channel, neuron, octaves, octave_scale, steps,
                step_size, jitter, normalize, smooth, tile, tile_margin, guide, start, seed (options.py
                says what each one does, its default and its range); one not given is the net's dream
                default (net.dream_defaults: defaults.py) if it has one
    progress    tqdm bars on stderr; on_frame(frame) gets the full-size uint8 picture after every step
    """
    return run(net, img, defaults.for_net(net, DreamOptions(**settings), settings), progress, on_frame)


def run(net, img, options, progress=True, on_frame=None, checkpoint=None, on_plan=None):
    """sd.dream with its settings in a DreamOptions: the octave loop around the step loop. `checkpoint`
    (checkpoint.py) saves the state after each octave, and may resume a run that was stopped;
    on_plan(plan) is called once every setting is checked, before the first step (the CLI's estimate)."""
    plan = make_plan(net, check_picture("img", img), options, progress)
    if progress:  # a fresh install compiles the kernels at the first step: say so then
        note_compiling()
    objective, eta, lo, hi = plan.objective, plan.eta, plan.lo, plan.hi  # the same at every step
    normalize, smooth = options.normalize, options.smooth
    bases = (recipes.pyramid if options.notebook else pyramid)(plan.start, [o.size for o in plan.octaves])
    first, x, moved = checkpoint.restore(plan) if checkpoint else (0, None, False)  # 0: from the start
    detail = np.zeros_like(bases[0]) if first == 0 else x - bases[first - 1]  # what was dreamed so far
    last = len(bases) - 1
    if on_plan is not None:  # every setting checked, the checkpoint read
        on_plan(plan)
    with _bar([octave.size for octave in plan.octaves], options.steps, progress) as bar:  # one bar for all
        for k, (octave, base_k) in enumerate(zip(plan.octaves, bases)):
            if k < first:
                continue  # dreamed before the run was stopped: the checkpoint holds its x
            if options.notebook:  # the 2015 notebook's own zoom, and no clip here (recipes.py)
                x = recipes.reinject(detail, base_k)
            else:
                x = reinject(detail, base_k)  # upscale the detail so far onto this scale
                np.clip(x, lo, hi, out=x)
            bar.set_description(_title(k, len(bases), octave.size), refresh=False)
            tiler, wrap = octave.tiler, options.notebook  # wrap: the notebook's jitter (recipes.py)
            for _ in range(options.steps):  # feed the picture back, repeat
                roll = _roll(plan.jitter_rng, options.jitter)
                L, g_size = ascent_step(net, x, objective, eta, lo, hi, normalize, smooth, roll, tiler, wrap)
                compile_in_background()  # a fresh install's parallel kernels, once the first step is shown
                moved |= g_size > 0
                bar.set_postfix(L=f"{L:.4g}", refresh=False)
                bar.update(octave.size[0] * octave.size[1])
                if on_frame is not None:  # the picture at full size: the detail so far on the full-size start
                    full = x if k == last else plan.start + resize(x - base_k, plan.start.shape[2:])
                    on_frame(net.deprocess(full))
            detail = x - base_k  # what was dreamed at this scale and below
            if checkpoint:
                checkpoint.save(k, x, moved, plan)
    if not moved:
        raise UserError(
            "the objective's gradient is zero on this picture (the chosen channel, neuron or layer "
            "never fires here), so nothing was dreamed; choose another channel, neuron or layer"
        )
    return in_bands((lambda a: recipes.to_pixels(net, a)) if options.notebook else net.deprocess, x, axis=2)


@contextmanager
def _bar(sizes, steps, progress):
    """One tqdm bar on stderr for the whole dream (disabled when progress is off). It counts pixels, not
    steps, so that its time left is right: a step costs about as much as its octave has pixels. A run that
    fails takes its bar away, so that the error is the last line."""
    bar = tqdm(
        total=steps * sum(h * w for h, w in sizes),
        desc=_title(0, len(sizes), sizes[0]),
        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
        disable=not progress,
        file=sys.stderr,
        leave=True,
        dynamic_ncols=True,
    )
    try:
        yield bar
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


def _title(k, n, size):
    """The bar's name for octave k of n, of size (H, W): "octave 2/4 163x122"."""
    return f"octave {k + 1}/{n} {size[1]}x{size[0]}"


def _roll(rng, jitter):
    """The jitter of one step: a random shift (dy, dx) of up to `jitter` pixels each way."""
    return tuple(int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
