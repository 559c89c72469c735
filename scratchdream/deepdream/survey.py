"""The layer survey: one picture dreamed briefly at many layers, or at the channels that like it most.

"Which layer should I use?" is answered by looking: the picture is shrunk to a small cell and dreamed
for a few steps at each layer (or at each of the K channels of one layer that respond most to it), and
the cells go on one contact sheet (cli/survey.py draws it, sheet.py). Early layers draw strokes and
textures, deep ones draw parts of objects.

Which layers: the feature layers of the net's trunk. A trunk layer is one that every path from the
pixels to the net's last layer goes through (an Inception module's output, not its branches); its
feature layers are the convolutions and concatenations, each named by the ReLU (or batch norm then
ReLU) that reads it alone, since that activation is what a dream sees.

Which channels: ranked by the mean square of the channel on the cell's picture, (1/n) Σ_ij h_cij², the
very quantity the channel objective then raises (objectives.channel); unlike the mean it cannot be made
small by negative values, so it ranks a layer before its ReLU too.

How big the cells are: as big as lets the whole survey cost about one default dream (4 octaves x 10
steps at full size), by a cost model that counts the multiply-adds of the forward pass (`work`): the
backward pass costs a fixed multiple of it, which cancels in the comparison. The cells' long side stays
between MIN_CELL (or the least the layers need) and MAX_CELL pixels.
"""

import sys
from collections import Counter
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from ..errors import SettingError, UsageError
from ..image_io import shrink
from . import defaults
from .loop import run
from .octaves import octave_sizes
from .options import DreamOptions, check_picture
from .plan import default_layer, min_input_side

MIN_CELL, MAX_CELL = 64, 256  # px: the long side of a cell's picture
STEPS, STEP_SIZE = 10, 3.0  # a brief dream: one octave of 10 steps, twice the default's step
TOP = 8  # channels surveyed by default
STEP_FIELDS = ("normalize", "smooth")  # the net's dream defaults a survey takes (defaults.for_net)
ELEMENTWISE = ("relu", "batchnorm")  # layers that read one activation and stand for it


class Cell(NamedTuple):
    """One dream of the survey: what it amplified, and the picture."""

    layer: str
    channel: object  # int, or None for the whole layer
    picture: np.ndarray  # (h, w, 3) uint8
    silent: bool = False  # the channel is zero all over the picture: nothing to amplify, left as it was

    @property
    def title(self):
        name = self.layer if self.channel is None else f"{self.layer} ch {self.channel}"
        return name + (" (silent)" if self.silent else "")


# ---- which layers, which channels -------------------------------------------------------------------
def trunk_layers(net):
    """The feature layers every path from the pixels to the last layer passes through, in order."""
    last = net.layer_names[-1]
    plan = net._ancestors([last])
    readers = Counter(name for layer in plan for name in layer["inputs"])
    open_reads, trunk = Counter(), []  # activation -> reads still to come after the current layer
    for layer in plan:
        for name in layer["inputs"]:
            open_reads[name] -= 1
        open_reads[layer["name"]] = readers[layer["name"]]
        pending = [name for name, n in open_reads.items() if n > 0]
        if pending in ([layer["name"]], []):  # only this layer's output crosses to the layers after it
            trunk.append(layer)
    spatial = net.shapes(*net.spec["input"].get("size", [224, 224]))
    return [
        _stand_in(net, layer, readers)
        for layer in trunk
        if layer["kind"] in ("conv", "concat") and len(spatial[layer["name"]]) == 3
    ]


def _stand_in(net, layer, readers):
    """The layer's name, or that of the ReLU (or batch norm, then ReLU) that alone reads it."""
    name = layer["name"]
    while readers[name] == 1:
        nxt = next(other for other in net.layers if name in other["inputs"])
        if nxt["kind"] not in ELEMENTWISE:
            break
        name = nxt["name"]
    return name


def called(net, name):
    """The name a user would type for a layer: its first alias (relu4_3 for torchvision's features.22),
    else its own name."""
    return next((alias for alias, target in net.aliases.items() if target == name), name)


def check_layers(net, layers):
    """The layers' own names (aliases resolved), each with a spatial output; one line otherwise."""
    names = [net.resolve(name) for name in layers]
    shapes = net.shapes(*net.spec["input"].get("size", [224, 224]), full=True)
    for name in names:
        if len(shapes[name]) != 3:
            raise UsageError(
                f"{name} gives {shapes[name]}, not a picture of features; the survey dreams at layers with "
                "a spatial output (see `scratchdream layers NET`)"
            )
    return names


def top_channels(net, img, layer, k):
    """The k channels of `layer` with the largest mean square on img (H, W, 3) uint8, largest first:
    [(channel, mean square)]."""
    check_top(net, layer, k)
    h = net.forward(net.preprocess(img), upto=layer, keep=False)[0].astype(np.float64)  # (C, H, W)
    score = np.mean(np.square(h), axis=(1, 2))
    order = np.argsort(-score, kind="stable")[:k]
    return [(int(c), float(score[c])) for c in order]


def check_top(net, layer, k):
    """k, a count from 1 to the layer's channels; one line otherwise."""
    C = net.shapes(*net.spec["input"].get("size", [224, 224]), full=True)[net.resolve(layer)][0]
    if not 1 <= k <= C:
        raise SettingError("{top} {k} is more than the {C} channels of {layer}; give {top} 1 to {C}",
                           k=k, C=C, layer=layer)  # fmt: skip
    return k


# ---- how big the cells are ----------------------------------------------------------------------------
def work(net, layer, h, w):
    """Multiply-adds of a forward pass from an h x w picture to `layer`: each conv and linear layer's
    weights times its output positions, one per output value for every other layer."""
    shapes = net.shapes(h, w)
    total = 0
    for spec in net._ancestors([layer]):
        out = shapes[spec["name"]]
        weight = net.param_shapes.get(spec["name"], {}).get("weight")
        per_value = int(np.prod(weight)) // weight[0] if weight is not None else 1
        total += per_value * int(np.prod(out))
    return total


def dream_work(net, H, W, options=None):
    """The work of one dream with `options` (default: DreamOptions()) on an H x W picture."""
    options = options or DreamOptions()
    layer = default_layer(net)
    sizes, _ = octave_sizes(H, W, options.octaves, options.octave_scale, min_input_side(net, [layer]))
    return sum(options.steps * work(net, layer, h, w) for h, w in sizes)


def cell_side(net, layers, H, W, steps=STEPS):
    """The long side of the cells: the largest from MIN_CELL (or the least the layers need) to MAX_CELL
    (or the picture's own) at which `steps` steps at each of `layers` cost at most one default dream."""
    need = min_input_side(net, sorted(set(layers)))
    budget = dream_work(net, H, W)
    lo = max(need, min(MIN_CELL, max(H, W)))
    hi = max(lo, min(MAX_CELL, max(H, W)))

    def cost(side):
        h, w = _fit(H, W, side)
        return sum(steps * work(net, layer, h, w) for layer in layers)

    while lo < hi:  # the largest side within the budget (lo itself when none is)
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if cost(mid) <= budget else (lo, mid - 1)
    return lo


def _fit(H, W, side):
    """(h, w) of an H x W picture shrunk (never enlarged) to a long side of `side`."""
    k = min(1.0, side / max(H, W))
    return max(1, round(H * k)), max(1, round(W * k))


# ---- the survey ---------------------------------------------------------------------------------------
def survey(net, img, layers=None, channels_of=None, top=TOP, steps=STEPS, step_size=STEP_SIZE, seed=0,
           progress=False):  # fmt: skip
    """The small picture and its dreams: (picture (h, w, 3) uint8, [Cell, ...]).

    layers      layer names (aliases allowed) to dream at; none: the trunk's feature layers (by alias)
    channels_of one layer: dream at its `top` channels that respond most to the picture instead
    steps, step_size, seed   of each cell's one-octave dream (the jitter is a sixteenth of the cell;
                the normalisation and smoothing are the net's dream defaults', if it has them)
    """
    img = check_picture("img", img)
    brief = DreamOptions(octaves=1, steps=steps, step_size=step_size, seed=seed)  # checked before any work
    brief = defaults.for_net(net, brief, fields=STEP_FIELDS)  # how a step behaves on this net
    if channels_of is not None and layers:
        raise SettingError("give {layers} or {channels_of}, not both")
    shown = (
        [channels_of] if channels_of is not None else layers or [called(net, n) for n in trunk_layers(net)]
    )
    names = check_layers(net, shown)
    if channels_of is not None:
        check_top(net, names[0], top)
    per_cell = names * top if channels_of is not None else names  # the layer each cell dreams at
    side = cell_side(net, per_cell, *img.shape[:2], steps)
    small = shrink(img, side)
    if channels_of is not None:
        jobs = [(shown[0], c, score == 0) for c, score in top_channels(net, small, names[0], top)]
    else:
        jobs = [(name, None, False) for name in shown]
    brief = replace(brief, jitter=max(1, side // 16))
    cells = []
    for layer, c, silent in tqdm(jobs, desc="survey", unit="cell", disable=not progress, file=sys.stderr):
        picture = (
            small.copy() if silent else run(net, small, replace(brief, layers=[layer], channel=c), False)
        )
        cells.append(Cell(layer, c, picture, silent))
    return small, cells
