"""A dream's cost, known before its first step: its time, its peak memory, and the tile that keeps the peak
under a cap (--max-memory).

    time   Σ over octaves: steps · (Σ over the tiles the net sees: one forward + backward, nets/cost.py's
           per-layer model + the step around it: jitter, normalisation, the update, STEP_PASSES passes
           over the picture at the elementwise rate), in CPU seconds; shared by the threads, that is the
           wall-clock time of the machine at rest (measured: 2 threads take 0.45-0.75 of one's time)
    peak   the weights + PICTURE_COPIES float32 copies of the full-size picture (start, the octaves'
           bases, the detail, x, dL/dI and the step's temporaries) + the largest forward + backward pass
           (nets/memory.py's estimate, for the largest octave or tile plus its margin)
The rates are this machine's (`scratchdream calibrate`, cached); other work running at the same time makes
the wall-clock time longer, not the CPU time. docs/performance.md compares estimates with measured runs.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import WordedError
from ..nets import cost, memory
from . import recipes
from .octaves import octave_sizes
from .plan import layer_terms, min_input_side
from .tiling import Tiler, default_margin, exact_margin, jump, receptive_field, tile_spans

PICTURE_COPIES = 10
STEP_PASSES = 10


@dataclass
class Budget:
    """What a dream will cost: wall-clock seconds on the machine at rest (its CPU seconds shared by the
    threads; None without a cost model), peak bytes, the octave sizes, the tile, the CPU seconds."""

    seconds: object
    peak: int
    sizes: list
    tile: int
    cpu_seconds: object = None
    rough: bool = False  # the time from cost.DEFAULT's rates, not this machine's

    def line(self, threads):
        """e.g. "about 12 s and 350 MiB at the peak (4 octaves up to 1024x768, 2 threads, 512-px tiles)"."""
        h, w = self.sizes[-1]
        rough = " (rough: this machine is not measured yet)" if self.rough else ""
        time = "" if self.seconds is None else f"about {_seconds(self.seconds)}{rough} and "
        tiles = f", {self.tile}-px tiles" if self.tile and max(h, w) > self.tile else ""
        n = len(self.sizes)
        return (
            f"{time}{_bytes(self.peak)} at the peak ({n} octave{'s' * (n > 1)} up to {w}x{h}, "
            f"{threads} thread{'s' * (threads > 1)}{tiles})"
        )


def estimate(net, options, H, W, model=None):
    """The Budget of dreaming on an H x W picture with `options` (a DreamOptions); model: nets/cost.py's."""
    layers, sizes = _layers_and_sizes(net, options, H, W)
    views = [_views(net, layers, options, options.tile, h, w) for h, w in sizes]
    peak = _fixed_bytes(net, layers, H, W) + max(_pass_bytes(net, v, layers) for v in views)
    cpu = None
    if model is not None:
        per_pixel = STEP_PASSES * 3 * model["rates"]["elementwise"]
        cpu = options.steps * sum(
            sum(cost.pass_seconds(model, net, th, tw, layers) for th, tw in v) + per_pixel * h * w
            for v, (h, w) in zip(views, sizes)
        )
    seconds = None if cpu is None else cpu / model["machine"]["threads"]
    rough = bool(model and model.get("default"))
    return Budget(seconds, int(peak), sizes, options.tile, cpu, rough)


def rate_keys(net, options, H, W):
    """The cost model's rates `estimate` reads for this run (cost.model(keys) measures only those)."""
    layers, sizes = _layers_and_sizes(net, options, H, W)
    h, w = sizes[-1]
    return cost.needed_keys(net, h, w, layers)


def check_memory(net, options, H, W):
    """The check that each forward pass makes first (nets/memory.py), made here for every pass of the run
    before the first step, so that an estimate is never printed above a run that cannot fit."""
    layers, sizes = _layers_and_sizes(net, options, H, W)
    shapes = {view for h, w in sizes for view in _views(net, layers, options, options.tile, h, w)}
    for th, tw in sorted(shapes, reverse=True):
        memory.check(net, (1, 3, th, tw), layers, np.float32)


def tile_under(net, options, H, W, cap):
    """The largest tile (0: none) whose run keeps its peak under `cap` bytes; one line if none does."""
    layers, _ = _layers_and_sizes(net, options, H, W)

    def peak(tile):  # over every octave: a smaller one may be cut into larger pieces (tiling.tile_spans)
        return estimate(net, replace(options, tile=tile), H, W).peak

    if peak(0) <= cap:
        return 0
    rf = receptive_field(net, layers)
    if not _tileable(net, options, layers) or not math.isfinite(rf):
        raise _too_small(cap, peak(0), "this objective needs the whole picture at once, which needs")
    step = jump(net, layers)
    lo = -(-int(math.ceil(max(rf, min_input_side(net, layers)))) // step)  # in strides
    hi = -(-max(H, W) // step)
    if peak(lo * step) > cap:
        smallest = (
            f"even the smallest tile ({lo * step} px, the receptive field of {', '.join(layers)}) needs"
        )
        raise _too_small(cap, peak(lo * step), smallest)
    while lo < hi:  # the largest tile (in strides) that fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if peak(mid * step) <= cap else (lo, mid - 1)
    return lo * step


def _too_small(cap, need, what):
    return WordedError(
        "{max_memory} {cap} is too small: " + what + " about {need} at the peak; allow at least {need}",
        cap=_bytes(cap),
        need=_bytes(need),
    )


# ---- the pieces -----------------------------------------------------------------------------------------
def _layers_and_sizes(net, options, H, W):
    layers = [name for name, _ in layer_terms(net, options.layers)]
    need = min_input_side(net, layers)
    sizes, _ = octave_sizes(H, W, options.octaves, options.octave_scale, need)
    if options.notebook:
        every = recipes.octave_sizes(H, W, options.octaves, options.octave_scale)
        sizes = [s for s in every[:-1] if min(s) >= need] + every[-1:]
    return layers, sizes


def _tileable(net, options, layers):
    """As Objective.tileable: not for one neuron, nor a class score."""
    shapes = net.shapes(64, 64)
    return options.neuron is None and not (options.channel is not None and len(shapes[layers[0]]) == 1)


def _views(net, layers, options, tile, h, w):
    """[(th, tw)]: what the net sees for one gradient of an h x w octave: the octave, or each tile with its
    margin (tiling.py's Tiler, its grid at offset 0)."""
    rf = receptive_field(net, layers)
    if not tile or max(h, w) <= tile or not _tileable(net, options, layers) or not math.isfinite(rf):
        return [(h, w)]
    margin = options.tile_margin
    if margin is None:
        margin = default_margin(net, layers, tile)
    elif margin == "exact":
        margin = exact_margin(net, layers)
    tiler = Tiler(tile, margin, None, step=jump(net, layers))
    m = tiler.margin
    return [
        (min(h, y1 + m) - max(0, y0 - m), min(w, x1 + m) - max(0, x0 - m))
        for y0, y1 in tile_spans(h, tiler.tile)
        for x0, x1 in tile_spans(w, tiler.tile)
    ]


def _pass_bytes(net, views, layers):
    return max(memory.estimate(net, th, tw, layers) for th, tw in set(views))


def _fixed_bytes(net, layers, H, W):
    """The parameters a forward to `layers` reads (nets/lazy_params.py reads no others: a conv-layer
    dream on VGG16 never loads its 124 M classifier weights), float32, and the picture's copies."""
    reached = {layer["params_of"] for layer in net._ancestors([net.resolve(n) for n in layers])}
    shapes = [s for name, p in net.param_shapes.items() if name in reached and p for s in p.values()]
    return sum(int(np.prod(s)) for s in shapes) * 4 + PICTURE_COPIES * 3 * H * W * 4


def _seconds(s):
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s" if s < 100 else f"{s / 60:.0f} min"


def _bytes(n):
    """e.g. "1.5 GiB", "350 MiB", "12 KiB", "800 bytes": a cap under 1 MiB is not shown as 0 MiB."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    return f"{n / 2**10:.0f} KiB" if n >= 2**10 else f"{n} bytes"
