"""Every setting of a dream in one place, each with its range: `DreamOptions` (sd.dream, zoom, the CLI)
and `check` (the same table, for the lecture's steps and eta and for zoom's frames and factor).

A value out of its range is one SettingError line naming the setting: "steps must be a whole number from
1 to 1000000 (ascent steps), got 0" from Python, "--steps ..." from the command line
(cli/flags.py maps the names). What needs the network (layer names, channel and neuron indices, the
picture's size, the tile against the receptive field) is checked once the network is known (plan.py).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SettingError

NORMALIZE = ("mean", "std", "laplacian")
STARTS = ("image", "noise", "grey")


@dataclass(frozen=True)
class Range:
    """Numbers from lo to hi (`above`: lo itself excluded, `below`: hi excluded); `whole` for counts."""

    lo: float
    hi: float
    meaning: str
    whole: bool = False
    above: bool = False
    below: bool = False

    def check(self, name, value):
        """value as an int (whole) or float, or one SettingError line giving the range."""
        ok = _is_whole(value) if self.whole else _is_real(value)
        if ok:
            v = int(value) if self.whole else float(value)
            ok = (v > self.lo if self.above else v >= self.lo) and (
                v < self.hi if self.below else v <= self.hi
            )
        if not ok:
            raise refused(name, self.text(), value)
        return v

    def text(self):
        """e.g. "a whole number from 1 to 100 (scales)", "a number above 0 and at most 255 (...)"."""
        return f"{'a whole number' if self.whole else 'a number'} {self.bounds()} ({self.meaning})"

    def bounds(self):
        """e.g. "from 1 to 100", "above 0 and at most 255", ">= 0"."""
        lo, hi = _number(self.lo), _number(self.hi)
        if math.isinf(self.hi):
            return f"above {lo}" if self.above else f">= {lo}"
        if self.above:
            return f"above {lo} and {'below' if self.below else 'at most'} {hi}"
        return f"from {lo} to {hi}"


# Each bound says why: past it a value is a typo, not a choice, and would only overflow or run for ever.
RANGES = {
    # 20 octaves of 1.4 already shrink a 10,000-px picture to 12 px; smaller octaves are dropped anyway
    "octaves": Range(1, 100, "scales", whole=True),
    # > 1 so that each octave is smaller; at 10, a 4000-px picture has room for three octaves at most
    "octave_scale": Range(1, 10, "ratio between scales", above=True),
    # per octave (dream) or in all (lecture): a million steps of the smallest net take days
    "steps": Range(1, 1_000_000, "ascent steps", whole=True),
    # the normalised gradient moves a pixel by this much on average; 255 is the whole grey scale
    "step_size": Range(0, 255, "grey levels per step", above=True),
    # the lecture's own step on the raw gradient dL/dI, a float32 number
    "eta": Range(0, float(np.finfo(np.float32).max), "the lecture's step on dL/dI", above=True),
    # the roll is clipped to half the picture anyway; 4096 px is half of an 8192-px picture
    "jitter": Range(0, 4096, "pixels of random roll, 0 = off", whole=True),
    # the blur costs 6 sigma passes over the picture; wider only erases the gradient
    "smooth": Range(0, 64, "Gaussian sigma in pixels, 0 = off"),
    # a tile's activations must fit in memory: 65536 px is already far beyond that
    "tile": Range(0, 65536, "pixels, 0 = never tile", whole=True),
    "tile_margin": Range(0, 65536, "pixels of context around each tile", whole=True),
    # numpy's SeedSequence takes any whole number >= 0
    "seed": Range(0, math.inf, "random seed", whole=True),
    # |weight| of a layer's term; 1e-6 to 1e6 spans every useful ratio and stays far from float32's limits
    "weight": Range(1e-6, 1e6, "the size of a layer's weight; negative weakens the layer"),
    # zoom: a million frames is a day of video at 25 frames a second
    "frames": Range(1, 1_000_000, "frames", whole=True),
    # zoom: magnify the centre by this factor per frame
    "factor": Range(1, 2, "zoom per frame, e.g. 1.05", above=True, below=True),
}


def check(name, value):
    """value, checked against RANGES[name] (an int or float), or one SettingError line."""
    return RANGES[name].check(name, value)


@dataclass
class DreamOptions:
    """Every setting of sd.dream, checked the moment it is made; the defaults are the original notebook's.

    layers      a name, ["name", ...], ["name:weight", ...] or {name: weight}; kept as ((name, weight), ...);
                none: the net's suggested layer
    channel     amplify one channel (mean of its squares), or one class score on a classifier layer
    neuron      (c, i, j) or "c,i,j": amplify the single neuron h_ij of slide 34 (indices at full size)
    octaves, octave_scale   how many scales, and the ratio between them
    steps, step_size        ascent steps per octave; the mean pixel change per step in grey levels
    jitter      random roll of up to this many pixels each step (0 = off)
    normalize   "mean" (original), "std" or "laplacian"; smooth: Gaussian sigma for the gradient (0 = off)
    tile        compute gradients in tiles of this size when the picture is larger (0 = never); tile_margin
                the context around each tile in pixels, or "exact" (one receptive field); default: the
                widest margin that adds at most 10% work, see tiling.py
    guide       (h, w, 3) uint8 picture: dream towards its features instead (the notebook's objective_guide)
    belief      dream what the net believes it sees: L = Σ_k w_k h_k on a classifier layer, w its class
                probabilities for the starting picture (at the prior's square, else the first octave:
                plan.belief_view), fixed (objectives.belief); the
                value is the classes left out, by name or index: () none, ("nothing",) a background class
    start       "image", "noise" or "grey": what the dream starts from (noise/grey keep the image's size)
    seed        seeds jitter, tile offsets, noise and the tie-breaking noise (ties.py; independent streams,
                so turning tiling on does not change the jitter): the same seed gives the same bytes
    notebook    follow the 2015 notebook's arithmetic where scratchdream differs on purpose: jitter by
                np.roll, the octaves shrunk one from the next by linear zoom, no clip when the detail is
                re-injected, the guide seen whole, pixels truncated (recipes.py; --recipe google2015)
    Each number's range is in RANGES.
    """

    layers: object = None
    channel: object = None
    neuron: object = None
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    step_size: float = 1.5
    jitter: int = 32
    normalize: str = "mean"
    smooth: float = 0.0
    tile: int = 1024
    tile_margin: object = None
    guide: object = None
    belief: object = None
    start: str = "image"
    seed: int = 0
    notebook: bool = False

    def __post_init__(self):
        self.octaves = check("octaves", self.octaves)
        self.octave_scale = check("octave_scale", self.octave_scale)
        self.steps = check("steps", self.steps)
        self.step_size = check("step_size", self.step_size)
        self.jitter = check("jitter", self.jitter)
        self.smooth = check("smooth", self.smooth)
        self.tile = check("tile", self.tile)
        self.seed = check("seed", self.seed)
        self.layers = parse_layers(self.layers)
        self.channel = None if self.channel is None else _whole("channel", self.channel)
        self.neuron = None if self.neuron is None else parse_neuron(self.neuron)
        self.normalize = _one_of("normalize", self.normalize, NORMALIZE)
        self.start = _one_of("start", self.start, STARTS)
        if self.tile_margin not in (None, "exact"):
            self.tile_margin = check("tile_margin", self.tile_margin)
        self.guide = None if self.guide is None else check_picture("guide", self.guide)
        self.belief = None if self.belief is None else parse_belief(self.belief)
        if not isinstance(self.notebook, (bool, np.bool_)):
            raise refused("notebook", "True or False", self.notebook)
        self.notebook = bool(self.notebook)
        if sum(v is not None for v in (self.channel, self.neuron, self.guide, self.belief)) > 1:
            raise SettingError("give only one of {channel}, {neuron}, {guide} and {belief}")


def parse_belief(value):
    """The classes the belief objective leaves out: "" or [] -> (), "nothing,7" or ["nothing", 7] ->
    ("nothing", "7"), True -> (), a class given twice kept once; names and indices are matched to the net's
    classes once it is known (plan.py)."""
    if value is True:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (str, int)) and not isinstance(v, bool) and "," not in str(v) for v in value
    ):
        raise refused("belief", 'the classes to leave out: a list of names or indices, or "a,b"', value)
    return tuple(dict.fromkeys(str(v).strip() for v in value))


def parse_layers(layers):
    """None | "name[:w]" | ["name[:w]" or (name, w), ...] | {name: w} -> ((name, weight), ...), checked."""
    if layers is None:
        return ()
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, (list, tuple, dict)):
        raise refused("layers", "a name, a list of names or a {name: weight} dict", layers)
    items = list(layers.items()) if isinstance(layers, dict) else [_split_weight(e) for e in layers]
    for name, weight in items:
        if not isinstance(name, str) or not name:
            raise SettingError("{layers} must name layers by their names, got {value}", value=_shown(name))
        check_weight(name, weight)
    return tuple((name, float(weight)) for name, weight in items)


def _split_weight(entry):
    """ "name:weight" -> (name, weight); a name whose part after the last ':' is no number is all name."""
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        return entry[0], entry[1]
    name, sep, w = str(entry).rpartition(":")
    if sep:
        try:
            return name, float(w)
        except ValueError:
            pass
    return entry, 1.0


def check_weight(name, weight, summed=False):
    """A layer's weight (or, summed, the sum of the weights it was given): |weight| in RANGES["weight"]."""
    size = RANGES["weight"]
    if _is_real(weight) and size.lo <= abs(float(weight)) <= size.hi:
        return float(weight)
    bounds = f"of size {_number(size.lo)} to {_number(size.hi)}"
    if summed:
        template = "{layers} {name}: its weights add up to {value}; the sum must be " + bounds
        raise SettingError(template + ", so they may not cancel out", name=name, value=_shown(weight))
    template = "{layers} {name}: the weight must be a number " + bounds + " (negative weakens the layer)"
    raise SettingError(template + ", got {value}", name=name, value=_shown(weight))


def parse_neuron(neuron):
    """(c, i, j) or "c,i,j" -> three ints >= 0 (their upper bounds depend on the layer: plan.py)."""
    parts = neuron.replace(" ", "").split(",") if isinstance(neuron, str) else neuron
    try:
        c, i, j = (int(p) if isinstance(p, str) else p for p in parts)
    except (TypeError, ValueError):
        c = None
    if c is None or not all(_is_whole(v) and v >= 0 for v in (c, i, j)):
        raise SettingError(
            "{neuron} must be three whole numbers C,Y,X >= 0 (channel, row, column), got {value}",
            value=_shown(neuron),
        )
    return int(c), int(i), int(j)


def check_picture(name, img):
    """An H x W x 3 uint8 RGB picture, as an array."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 1:
        raise refused(name, "an H x W x 3 uint8 RGB picture (scratchdream.image_io.load_image)", img)
    return img


def refused(name, rule, value):
    """The SettingError for `value` of setting `name`, which must be `rule`."""
    return SettingError("{" + name + "} must be " + rule + ", got {value}", value=_shown(value))


def _whole(name, value):
    if not _is_whole(value):
        raise refused(name, "a whole number", value)
    return int(value)


def _one_of(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise refused(name, "one of " + ", ".join(choices), value)
    return value


def _is_whole(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def _number(v):
    """1000000 and 1.5 as written, 1e-06 and 3.4e+38 in exponent form."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def _shown(v):
    """A value as the message shows it: numbers plainly (1e+300, nan), a picture by its shape and dtype,
    anything else quoted."""
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape} {v.dtype}"
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)
