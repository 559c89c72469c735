"""Every decision about one dream, made once, before the first step: `make_plan(net, img, options)`.

The options are already checked on their own (options.py); here they meet the network and the picture:
the layers are resolved (aliases, weights of a layer named twice added up), the picture must be large
enough for them (`min_input_side`, the one place that is computed), the objective is built for the
picture's size, the octave sizes are fixed, and for each octave it is decided whether its gradient is
computed whole or tile by tile. The loop (loop.py) then only follows the plan.
"""

import math
import sys
from dataclasses import dataclass

import numpy as np

from ..errors import SettingError, UserError
from ..image_io import resize
from ..nets import classes, zoo
from . import objectives, recipes
from .octaves import octave_sizes
from .options import check_weight
from .ties import break_ties
from .tiling import Tiler, default_margin, exact_margin, jump, receptive_field


@dataclass
class Octave:
    """One scale of the dream: its size (h, w), and its Tiler, or None to take the gradient in one pass."""

    size: tuple
    tiler: object


@dataclass
class Plan:
    """What the loop follows: the objective, the octaves (smallest first), the starting picture in the net's
    input units (1, 3, H, W), the step eta (1, 3, 1, 1) in input units, the pixel range lo..hi, and the
    random generator of the jitter."""

    objective: objectives.Objective
    octaves: list
    start: np.ndarray
    eta: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    jitter_rng: np.random.Generator


def make_plan(net, img, options, progress=True):
    """The Plan for dreaming on img (H, W, 3) uint8 with `options` (a DreamOptions)."""
    H, W = img.shape[:2]
    terms = layer_terms(net, options.layers, belief=options.belief is not None)
    layers = [name for name, _ in terms]
    min_side = check_picture_size(net, layers, H, W)
    noise_rng, jitter_rng, tile_rng, tie_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(options.seed).spawn(4)
    )
    sizes, dropped = octave_sizes(H, W, options.octaves, options.octave_scale, min_side)
    if options.notebook:  # the notebook's own sizes, each from the next larger one (recipes.py)
        every = recipes.octave_sizes(H, W, options.octaves, options.octave_scale)
        sizes = [s for s in every[:-1] if min(s) >= min_side] + every[-1:]
    if dropped and progress:
        _note(
            f"{dropped} of {options.octaves} octaves would be smaller than {min_side} px (the least "
            f"{net.name} needs); dreaming at {len(sizes)}"
        )
    for h, w in sizes:
        check_fixed_size(net, layers, h, w, len(sizes))
    start = _tied_or_not(
        in_bands(net.preprocess, _start(img, options.start, noise_rng), axis=0), net, tie_rng, options
    )
    if options.belief is not None:
        belief = (options.belief, belief_view(net, start, sizes[0], layers, min_side), progress)
    else:
        belief = None
    objective = build_objective(
        net, terms, H, W, options.channel, options.neuron, options.guide, options.notebook, belief
    )
    tiler = choose_tiler(net, objective, options, min_side, tile_rng, H, W)
    octaves = [Octave(size, tiler if tiler is not None and tiler.needed(*size) else None) for size in sizes]
    lo, hi = net.input_range()
    return Plan(
        objective,
        octaves,
        start=start,
        eta=np.float32(options.step_size) * (hi - lo) / np.float32(255.0),  # grey levels -> input units
        lo=lo,
        hi=hi,
        jitter_rng=jitter_rng,
    )


# ---- layers and the objective ----------------------------------------------------------------------
def default_layer(net):
    """The net's suggested dream layer, else its last layer with a spatial output."""
    suggested = net.spec.get("dream_layers") or []
    if suggested:
        return net.resolve(suggested[0])
    shapes = net.shapes(*net.spec["input"].get("size", [224, 224]))
    spatial = [name for name in net.layer_names if len(shapes[name]) == 3]
    return spatial[-1] if spatial else net.layer_names[-1]


def layer_terms(net, layers, belief=False):
    """((name, weight), ...) from DreamOptions.layers -> [(resolved name, weight)], a layer named twice
    (or by an alias) once with the weights added up; none: the net's suggested layer (for a belief, its
    classifier's output), weight 1."""
    if not layers:
        return [(classes.logits_layer(net) if belief else default_layer(net), 1.0)]
    merged = {}
    for name, weight in layers:
        key = net.resolve(name)
        merged[key] = merged.get(key, 0.0) + weight
    for key, weight in merged.items():
        check_weight(key, weight, summed=True)
    return list(merged.items())


def build_objective(net, terms, H, W, channel=None, neuron=None, guide=None, whole_guide=False, belief=None):
    """The Objective for these layer terms and the picture size H x W, every index checked against the net
    (whole_guide: the guide's features from all its pixels, as the notebook, not from it shrunk; belief:
    (the classes left out, the dream's first picture in input units, whether to print notes))."""
    shapes = net.shapes(H, W)
    if (channel is not None or neuron is not None) and len(terms) > 1:
        raise SettingError(
            "{channel} and {neuron} pick one unit of one layer; give a single {layers} with them"
        )
    out = []
    for name, weight in terms:
        shape = shapes[name]
        if channel is not None:
            kind = "logit" if len(shape) == 1 else "channel"
            out.append((name, weight, kind, check_channel(name, shape, channel)))
        elif neuron is not None:
            c, i, j = check_neuron(name, shape, neuron, W, H)
            out.append((name, weight, "neuron", (c,) + objectives.neuron_position(i, j, shape)))
        elif belief is not None:
            out.append((name, weight, "belief", belief_weights(net, name, shape, *belief)))
        elif guide is not None:
            side = max(guide.shape[:2]) if whole_guide else None
            out.append((name, weight, "guided", objectives.guide_features(net, guide, name, side)))
        else:
            out.append((name, weight, "layer", None))
    return objectives.Objective(out)


def belief_view(net, start, first_octave, layers, min_side):
    """The picture the belief is read from: `start` (1, 3, H, W) shrunk to the size the net's belief on
    empty scenes was read at (its prior's "side", a square), so that p and the prior q it is divided by are
    two looks at the same view and the belief does not depend on the picture's size; without one, to the
    first octave. A side the net cannot classify (below `min_side`, the least side `layers` need, or not
    the size a fixed classifier takes: a damaged file) is one line."""
    side = (getattr(net, "belief_prior", None) or {}).get("side")
    if not side:
        return resize(start, first_octave)
    fits = side >= min_side
    if fits:
        try:
            check_fixed_size(net, layers, side, side, 1)
        except SettingError:
            fits = False
    if not fits:
        raise UserError(
            f"{net.name}: belief prior damaged: read at {side}x{side} px, a size the net cannot classify; "
            "convert or train the file again"
        )
    return resize(start, (side, side))


def belief_weights(net, name, shape, leave_out, first, progress=False):
    """The belief objective's fixed class weights: the net's probabilities at classifier layer `name` for
    the dream's first picture `first` (1, 3, h, w), the classes `leave_out` (names or indices) at 0, each
    divided by the square root of the net's belief on empty scenes when its weights file has one (and
    handed to the class of an empty scene when it names one and the belief says little)."""
    if len(shape) != 1:
        raise SettingError(
            "{belief} needs a classifier's output (one value per class); {name} gives {shape}; leave out "
            "{layers} or name the logits layer",
            name=name,
            shape=shape,
        )
    labels = zoo.class_names(net)
    left_out = [classes.find(net, c, labels) for c in leave_out]
    h = net.forward(first, upto=name, keep=False)[0]
    prior = getattr(net, "belief_prior", None) or {}
    q = prior.get("p") if prior.get("layer") == name and len(prior.get("p", ())) == len(h) else None
    empty = classes.find(net, prior["empty"], labels) if q is not None and "empty" in prior else None
    w = objectives.belief_weights(h, left_out, q, empty)
    if progress and empty in left_out and w[empty] > 0:  # all its weight is the evidence rule's
        _note(
            f"{net.name} believes no object is here more than in any empty scene: {w[empty]:.0%} of the "
            f"dream goes to {labels[empty]!r} (the evidence rule); --class NAME or --layer NAME dreams an "
            "object regardless"
        )
    return w


def check_channel(name, shape, c):
    """c, an index into the layer's channels (or classes, for a classifier's output)."""
    n, what = shape[0], "classes" if len(shape) == 1 else "channels"
    if not 0 <= c < n:
        raise SettingError(
            "{channel} {c} is out of range: {name} has {n} {what}, valid 0..{last}",
            c=c,
            name=name,
            n=n,
            what=what,
            last=n - 1,
        )
    return c


def check_neuron(name, shape, neuron, W, H):
    """(c, i, j) -> itself, or one line naming the valid range of each index at this picture size."""
    if len(shape) != 3:
        raise SettingError(
            "{neuron} needs a layer with a spatial output; {name} gives {shape}; use {channel}",
            name=name,
            shape=shape,
        )
    (c, i, j), (C, Hl, Wl) = neuron, shape
    if not (0 <= c < C and 0 <= i < Hl and 0 <= j < Wl):
        raise SettingError(
            "{neuron} {c},{i},{j} is out of range: on a {W}x{H} picture {name} is {C} x {Hl} x {Wl}, "
            "so C in 0..{c1}, Y in 0..{i1}, X in 0..{j1}",
            **dict(c=c, i=i, j=j, W=W, H=H, name=name, C=C, Hl=Hl, Wl=Wl, c1=C - 1, i1=Hl - 1, j1=Wl - 1),
        )
    return c, i, j


# ---- sizes ------------------------------------------------------------------------------------------
def check_picture_size(net, layers, H, W):
    """The least side `layers` need (min_input_side); one line if the H x W picture is smaller."""
    need = min_input_side(net, layers)
    if min(H, W) < need:
        raise UserError(
            f"the picture is {W}x{H} px but {net.name} needs at least {need} px on each side to reach "
            f"{', '.join(layers)}; use a larger picture or an earlier layer"
        )
    return need


def min_input_side(net, layers):
    """The smallest square picture side for which every layer in `layers` has a non-empty output."""

    def ok(s):
        shapes = net.shapes(s, s)
        return all(all(v > 0 for v in shapes[name]) for name in layers)

    lo, hi = 1, 1
    while not ok(hi):
        lo, hi = hi + 1, hi * 2
        if hi > 1 << 16:
            raise UserError(f"{net.name}: {', '.join(layers)} never has an output for any picture size")
    while lo < hi:  # the smallest ok side in [lo, hi]
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return hi


def check_fixed_size(net, layers, h, w, n_octaves):
    """Layers behind a fixed-size classifier only work at the size its weights were made for."""
    from ..layers import KINDS  # the layers load Numba: only once a net is in hand

    shapes = net.shapes(h, w)
    for layer in net._ancestors(layers):
        needs = KINDS[layer["kind"]].params([shapes[s] for s in layer["inputs"]], layer)
        if layer["kind"] == "linear" and needs != net.param_shapes[layer["name"]]:
            fixed = net.spec["input"].get("size")
            hint = " and {octaves} 1" if n_octaves > 1 else ""
            raise SettingError(
                "{name} is a classifier with a fixed input, it needs a {fixed} picture, not {w}x{h}; resize "
                "the picture" + hint + ", or dream at a convolutional layer",
                name=layer["name"],
                fixed=f"{fixed[1]}x{fixed[0]}",
                w=w,
                h=h,
            )


# ---- tiling ---------------------------------------------------------------------------------------
def choose_tiler(net, objective, options, min_side, rng, H, W):
    """The Tiler for pictures larger than options.tile, or None: never tile (tile 0, an objective that
    needs the whole picture, a layer that sees all of it, or a picture within one tile)."""
    if not objective.tileable or options.tile == 0 or max(H, W) <= options.tile:
        return None
    rf = receptive_field(net, objective.layers)
    if not math.isfinite(rf):
        return None
    need = int(math.ceil(max(rf, min_side)))
    if options.tile < need:
        raise SettingError(
            "{tile} {value} is smaller than the receptive field of {layers_seen} ({need} px); use {tile} "
            "{need} or more, or {tile} 0 to never tile",
            value=options.tile,
            layers_seen=", ".join(objective.layers),
            need=need,
        )
    if options.tile_margin is None:
        margin = default_margin(net, objective.layers, options.tile)
    elif options.tile_margin == "exact":
        margin = exact_margin(net, objective.layers)
    else:
        margin = options.tile_margin
    return Tiler(options.tile, margin, rng, step=jump(net, objective.layers))


# ---- the starting picture -----------------------------------------------------------------------------
def _tied_or_not(start, net, rng, options):
    """The start with its ties broken (ties.py); the 2015 notebook's recipe has no such noise."""
    return start if options.notebook else break_ties(start, net, rng)


def _start(img, start, rng):
    if start == "grey":
        return np.full_like(img, 128)
    if start == "noise":  # grey with a little Gaussian noise: something for the gradient to grow from
        return np.clip(np.round(128 + 16 * rng.standard_normal(img.shape)), 0, 255).astype(np.uint8)
    return img


def in_bands(fn, a, axis, rows=256):
    """fn (net.preprocess or net.deprocess, which work pixel by pixel) on bands of rows, joined again:
    the same result, without float64 temporaries the size of the whole picture."""
    H = a.shape[axis]
    if H <= rows:
        return fn(a)
    parts = [fn(np.take(a, range(r, min(H, r + rows)), axis=axis)) for r in range(0, H, rows)]
    return np.concatenate(parts, axis=0 if parts[0].ndim == 3 else 2)


def _note(message):
    print(f"scratchdream: note: {message}", file=sys.stderr)
