"""The whole dream: "feed it back to the network, repeat" (slide 35), at several scales, with progress.

    img -> preprocess -> for each octave (small to large): for each step: ascent_step -> deprocess -> img

`dream` is the Python API (`sd.dream`); the CLI only wraps it. Every option is checked first and a
bad one is one UsageError line; the defaults here are the original notebook's, and the CLI passes its
own (cli.py is where the command line's defaults live).
"""

import math
import sys

import numpy as np

from ..errors import UsageError, UserError
from . import objectives
from .ascent import ascent_step
from .octaves import octave_sizes, pyramid, reinject
from .tiling import Tiler, default_margin, exact_margin, jump, receptive_field

NORMALIZE = ("mean", "std", "laplacian")
STARTS = ("image", "noise", "grey")
MAX_SMOOTH = 64  # px: the blur costs 6 sigma passes over the picture; wider only erases the gradient


def dream(
    net,
    img,
    layers=None,
    channel=None,
    neuron=None,
    octaves=4,
    octave_scale=1.4,
    steps=10,
    step_size=1.5,
    jitter=32,
    normalize="mean",
    smooth=0.0,
    tile=1024,
    tile_margin=None,
    guide=None,
    start="image",
    seed=0,
    progress=True,
    on_frame=None,
):
    """Deep Dream on img (H, W, 3) uint8 RGB; returns a new (H, W, 3) uint8 RGB image.

    layers      a name, ["name", ...], ["name:weight", ...] or {name: weight} (default: the net's suggested layer)
    channel     amplify one channel (mean of its squares), or one class score on a classifier layer
    neuron      (c, i, j): amplify the single neuron h_ij of slide 34 (indices at the full picture size)
    octaves, octave_scale   how many scales, and the ratio between them (> 1)
    steps, step_size        ascent steps per octave; the mean pixel change per step in grey levels (0..255)
    jitter      random roll of up to this many pixels each step (0 = off)
    normalize   "mean" (original), "std" or "laplacian"; smooth: Gaussian sigma for the gradient (0 = off)
    tile        compute gradients in tiles of this size when the picture is larger (0 = never); tile_margin
                the context around each tile in pixels, or "exact" (one receptive field); default: the
                widest margin that adds at most 10% work, see tiling.py
    guide       (h, w, 3) uint8 picture: dream towards its features instead (the notebook's objective_guide)
    start       "image", "noise" or "grey": what the dream starts from (noise/grey keep the image's size)
    seed        seeds jitter, tile offsets and noise (three independent streams, so turning tiling on
                does not change the jitter): the same seed gives the same bytes
    progress    tqdm bars on stderr; on_frame(frame) gets the full-size uint8 picture after every step
    """
    img = _check_image(img)
    terms = layer_terms(net, layers)
    check_options(
        octaves=octaves,
        octave_scale=octave_scale,
        steps=steps,
        step_size=step_size,
        jitter=jitter,
        normalize=normalize,
        smooth=smooth,
        tile=tile,
        start=start,
    )
    if step_size > 255:  # grey levels here (lecture's eta has no such bound)
        raise UsageError(
            f"--step-size is the mean pixel change per step in grey levels, at most 255, got {step_size}"
        )
    H, W = img.shape[:2]
    min_side = min_input_side(net, [name for name, _ in terms])
    if min(H, W) < min_side:
        raise UserError(
            f"the picture is {W}x{H} px but {net.name} needs at least {min_side} px on each side to reach "
            f"{', '.join(name for name, _ in terms)}; use a larger picture or an earlier layer"
        )
    objective = build_objective(net, terms, H, W, channel=channel, neuron=neuron, guide=guide)
    noise_rng, jitter_rng, tile_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    sizes, dropped = octave_sizes(H, W, octaves, octave_scale, min_side)
    if dropped and progress:
        _note(
            f"{dropped} of {octaves} octaves would be smaller than {min_side} px (the least {net.name} needs); "
            f"dreaming at {len(sizes)}"
        )
    for h, w in sizes:
        _check_fixed_size(net, objective.layers, h, w, len(sizes))
    tiler = _tiler(net, objective, tile, tile_margin, tile_rng, H, W, progress)
    base = _in_bands(net.preprocess, _start(img, start, noise_rng), axis=0)
    lo, hi = net.input_range()
    eta = np.float32(step_size) * (hi - lo) / np.float32(255.0)  # grey levels -> input units, per channel
    x = _dream_octaves(
        net,
        base,
        sizes,
        objective,
        steps,
        eta,
        lo,
        hi,
        jitter_rng,
        jitter,
        normalize,
        smooth,
        tiler,
        progress,
        on_frame,
    )
    return _in_bands(net.deprocess, x, axis=2)


def _in_bands(fn, a, axis, rows=256):
    """fn (net.preprocess or net.deprocess, which work pixel by pixel) on bands of rows, joined again:
    the same result, without float64 temporaries the size of the whole picture."""
    H = a.shape[axis]
    if H <= rows:
        return fn(a)
    parts = [fn(np.take(a, range(r, min(H, r + rows)), axis=axis)) for r in range(0, H, rows)]
    return np.concatenate(parts, axis=0 if parts[0].ndim == 3 else 2)


def _dream_octaves(
    net, base, sizes, objective, steps, eta, lo, hi, rng, jitter, normalize, smooth, tiler, progress, on_frame
):
    """The octave loop with detail re-injection (octaves.py) around the step loop (ascent.py)."""
    from tqdm import tqdm

    bases = pyramid(base, sizes)
    detail = np.zeros_like(bases[0])
    moved = False
    for k, (size, base_k) in enumerate(zip(sizes, bases)):
        x = reinject(detail, base_k)  # upscale the detail so far onto this scale
        np.clip(x, lo, hi, out=x)
        bar = tqdm(
            range(steps),
            desc=f"octave {k + 1}/{len(sizes)} {size[1]}x{size[0]}",
            unit="step",
            disable=not progress,
            file=sys.stderr,
            leave=True,
            dynamic_ncols=True,
        )
        for _ in bar:
            roll = tuple(int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
            L, g_size = ascent_step(
                net,
                x,
                objective,
                eta,
                lo,
                hi,
                normalize,
                smooth,
                roll,
                tiler if tiler.needed(*size) else None,
            )
            moved |= g_size > 0
            bar.set_postfix(L=f"{L:.4g}", refresh=False)
            if on_frame is not None:
                on_frame(net.deprocess(base + _full(x - base_k, base) if k < len(sizes) - 1 else x))
        bar.close()
        detail = x - base_k  # what was dreamed at this scale and below
    if not moved:
        raise UserError(
            "the objective's gradient is zero on this picture (the chosen channel, neuron or layer "
            "never fires here), so nothing was dreamed; choose another channel, neuron or layer"
        )
    return x


def _full(detail, base):
    from ..image_io import resize

    return resize(detail, base.shape[2:])


# ---- options -------------------------------------------------------------------------------------
def check_options(
    octaves=1,
    octave_scale=2.0,
    steps=1,
    step_size=1.0,
    jitter=0,
    normalize="mean",
    smooth=0.0,
    tile=0,
    start="image",
):
    """One UsageError line for the first option out of range; the net-dependent checks come later."""
    if not _is_int(steps) or steps <= 0:
        raise UsageError(f"--steps must be a whole number > 0, got {steps}")
    if not _is_int(octaves) or octaves <= 0:
        raise UsageError(f"--octaves must be a whole number > 0, got {octaves}")
    if not _finite(octave_scale) or octave_scale <= 1:
        raise UsageError(f"--octave-scale must be a number > 1 (e.g. 1.4), got {octave_scale}")
    if not _finite(step_size) or step_size <= 0:
        raise UsageError(f"--step-size must be a finite number > 0 (e.g. 1.5), got {step_size}")
    if not _is_int(jitter) or jitter < 0:
        raise UsageError(f"--jitter must be a whole number of pixels >= 0, got {jitter}")
    if normalize not in NORMALIZE:
        raise UsageError(f"--normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    if not _finite(smooth) or not 0 <= smooth <= MAX_SMOOTH:
        raise UsageError(f"--smooth must be a sigma from 0 (off) to {MAX_SMOOTH} px, got {smooth}")
    if not _is_int(tile) or tile < 0:
        raise UsageError(f"--tile must be 0 (never tile) or a size in pixels, got {tile}")
    if start not in STARTS:
        raise UsageError(f"--from must be one of {', '.join(STARTS)}, got {start!r}")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _finite(v):
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _check_image(img):
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UsageError(
            f"dream needs an H x W x 3 uint8 RGB picture, got shape {img.shape} {img.dtype}; "
            "load it with scratchdream.image_io.load_image"
        )
    return img


def default_layer(net):
    """The net's suggested dream layer, else its last layer with a spatial output."""
    suggested = net.spec.get("dream_layers") or []
    if suggested:
        return net.resolve(suggested[0])
    shapes = net.shapes(*net.spec["input"].get("size", [224, 224]))
    spatial = [name for name in net.layer_names if len(shapes[name]) == 3]
    return spatial[-1] if spatial else net.layer_names[-1]


def layer_terms(net, layers):
    """layers (None | "name[:w]" | [..] | {name: w}) -> [(resolved name, weight)], duplicates merged."""
    if layers is None or (isinstance(layers, (list, tuple)) and not layers):
        return [(default_layer(net), 1.0)]
    if isinstance(layers, str):
        layers = [layers]
    items = list(layers.items()) if isinstance(layers, dict) else [_split_weight(entry) for entry in layers]
    merged = {}
    for name, weight in items:
        if not _finite(weight) or float(weight) == 0:
            raise UsageError(f"--layer {name}: the weight must be a finite non-zero number, got {weight}")
        key = net.resolve(name)
        merged[key] = merged.get(key, 0.0) + float(weight)
    return list(merged.items())


def _split_weight(entry):
    if isinstance(entry, (tuple, list)):
        return entry[0], entry[1]
    name, sep, w = str(entry).rpartition(":")
    if sep:
        try:
            return name, float(w)
        except ValueError:
            pass
    return str(entry), 1.0


def build_objective(net, terms, H, W, channel=None, neuron=None, guide=None):
    """The Objective for these layer terms and the picture size H x W, every index checked against the net."""
    shapes = net.shapes(H, W)
    if sum(v is not None for v in (channel, neuron, guide)) > 1:
        raise UsageError("give only one of --channel, --neuron and --guide")
    if (channel is not None or neuron is not None) and len(terms) > 1:
        raise UsageError("--channel and --neuron pick one unit of one layer; give a single --layer with them")
    out = []
    for name, weight in terms:
        shape = shapes[name]
        if channel is not None:
            out.append(
                (
                    name,
                    weight,
                    "logit" if len(shape) == 1 else "channel",
                    _check_channel(net, name, shape, channel),
                )
            )
        elif neuron is not None:
            c, i, j = check_neuron(net, name, shape, neuron, W, H)
            out.append((name, weight, "neuron", (c,) + objectives.neuron_position(i, j, shape)))
        elif guide is not None:
            out.append((name, weight, "guided", objectives.guide_features(net, _check_image(guide), name)))
        else:
            out.append((name, weight, "layer", None))
    return objectives.Objective(out)


def _check_channel(net, name, shape, c):
    n = shape[0]
    what = "classes" if len(shape) == 1 else "channels"
    if not _is_int(c) or not 0 <= c < n:
        raise UsageError(f"--channel {c} is out of range: {name} has {n} {what}, valid 0..{n - 1}")
    return int(c)


def check_neuron(net, name, shape, neuron, W, H):
    """(c, i, j) -> ints, or one line naming the valid range of each index at this picture size."""
    if len(shape) != 3:
        raise UsageError(f"--neuron needs a layer with a spatial output; {name} gives {shape}; use --channel")
    try:
        c, i, j = (int(v) for v in neuron)
    except (TypeError, ValueError):
        raise UsageError(f"--neuron must be three whole numbers C,Y,X, got {neuron!r}") from None
    C, Hl, Wl = shape
    if not (0 <= c < C and 0 <= i < Hl and 0 <= j < Wl):
        raise UsageError(
            f"--neuron {c},{i},{j} is out of range: on a {W}x{H} picture {name} is "
            f"{C} x {Hl} x {Wl}, so C in 0..{C - 1}, Y in 0..{Hl - 1}, X in 0..{Wl - 1}"
        )
    return c, i, j


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


def _check_fixed_size(net, layers, h, w, n_octaves):
    """Layers behind a fixed-size classifier only work at the size its weights were made for."""
    from ..layers import KINDS

    shapes = net.shapes(h, w)
    for layer in _ancestors(net, layers):
        need = net.param_shapes[layer["name"]]
        if (
            layer["kind"] == "linear"
            and KINDS["linear"].params([shapes[s] for s in layer["inputs"]], layer["hp"]) != need
        ):
            size = net.spec["input"].get("size")
            hint = " and --octaves 1" if n_octaves > 1 else ""
            raise UsageError(
                f"{layer['name']} is a classifier with a fixed input, it needs a {size[1]}x{size[0]} "
                f"picture, not {w}x{h}; resize the picture{hint}, or dream at a convolutional layer"
            )


def _ancestors(net, names):
    by_name = {layer["name"]: layer for layer in net.layers}
    need, stack = set(), list(names)
    while stack:
        n = stack.pop()
        if n in by_name and n not in need:
            need.add(n)
            stack.extend(by_name[n]["inputs"])
    return [layer for layer in net.layers if layer["name"] in need]


def _tiler(net, objective, tile, tile_margin, rng, H, W, progress):
    """A Tiler when tiling applies; tiles smaller than the receptive field are refused."""
    if not objective.tileable or tile == 0:
        return Tiler(0, 0, rng)
    rf = receptive_field(net, objective.layers)
    if not math.isfinite(rf):
        return Tiler(0, 0, rng)
    need = int(math.ceil(max(rf, min_input_side(net, objective.layers))))
    if tile < need and max(H, W) > tile:
        raise UsageError(
            f"--tile {tile} is smaller than the receptive field of {', '.join(objective.layers)} "
            f"({need} px); use --tile {need} or more, or --tile 0 to never tile"
        )
    if tile_margin is None:
        margin = default_margin(net, objective.layers, tile)
    elif tile_margin == "exact":
        margin = exact_margin(net, objective.layers)
    else:
        margin = tile_margin
    if not _is_int(margin) or margin < 0:
        raise UsageError(f"--tile-margin must be a whole number of pixels >= 0 or 'exact', got {tile_margin}")
    return Tiler(tile, margin, rng, step=jump(net, objective.layers))


def _start(img, start, rng):
    if start == "grey":
        return np.full_like(img, 128)
    if start == "noise":  # grey with a little Gaussian noise: something for the gradient to grow from
        return np.clip(np.round(128 + 16 * rng.standard_normal(img.shape)), 0, 255).astype(np.uint8)
    return img


def _note(message):
    print(f"scratchdream: note: {message}", file=sys.stderr)
