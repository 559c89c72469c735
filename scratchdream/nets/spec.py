"""The architecture check: every field of a spec against one table, before anything else reads it.

A spec (nets/graph.py's docstring shows one) usually arrives as JSON from a weights file, and anyone can
write one. Its numbers become array sizes and loop bounds in Numba kernels that trust them: a negative pad
lets a kernel write outside its array, a zero stride divides by zero, a 30-million-channel conv asks for
gigabytes. So `validate(spec)` reads the whole spec first and stops at the first damaged field, in one line:
    architecture damaged: layer 'conv2' pad: [1, 1, -20, 0]: -20 is outside 0..4096; convert the weights again
Net.__init__ calls it, so a spec built in Python is checked exactly like one read from a file.

What is checked, in this order:
    top level   the keys of TOP and nothing else; `input` and `layers` present
    input       the keys of INPUT_FIELDS: order RGB/BGR, scale, mean and std (3 numbers each), size (H, W)
    each layer  name (printable, unique, usable as an HDF5 path), kind (one of layers.KINDS), inputs (names
                defined above it; exactly one, except concat (one or more) and add (two or more, of one
                shape)), hp (the HP table: no unknown keys, every value of its type and in its range),
                the window (pad smaller than the dilated kernel on each side), a clip's min below its max,
                and what flows in: conv,
                pooling and LRN read (C, H, W), linear reads a flat vector, groups divide both the input
                channels and `out`
    names       aliases and dream_layers point at layers; labels are strings, one per class of the classifier
Ints are ints (not bools, not 3.0), flags are bools, numbers are finite. Sizes that depend on the picture
(is a concat's branches' H x W the same, does the image reach a layer) are checked by the layers themselves.
"""

import math
import numbers
import reprlib

from ..errors import UserError
from ..layers import KINDS, geometry

INPUT = "data"  # the picture's name: layers read it as their input "data"

# ---- bounds: far beyond any real CNN, small enough that no shape built from them overflows ------------
MAX_LAYERS = 4096  # the largest zoo net (Keras Inception v3) has 126 layers; a ResNet-152 would have ~500
MAX_NAME = 256  # characters in a name; Caffe, Keras and torchvision names stay under 40
MAX_SIDE = 4096  # the net's own input size; published CNNs are trained at 224..600 px
MAX_CHANNELS = 1 << 16  # conv and linear outputs; the widest we know are 4096 (VGG fc6) and 21,843 classes
MAX_KERNEL = 64  # the largest published conv kernel is 51 x 51 (SLaK); pooling windows stay under 16
MAX_STRIDE = 64  # the largest stride we know is ViT's 32 x 32 patches
MAX_DILATION = 64  # DeepLab's widest atrous rate is 24 (36 at output stride 8)
MAX_PAD = MAX_KERNEL * MAX_DILATION  # the real bound is the dilated kernel itself, checked per layer
MAX_POOLED = 64  # adaptive pooling output side; real nets use 1 .. 7
MAX_LRN = 63  # LRN window; AlexNet and GoogLeNet use 5
BIG = 1e6  # numbers (scale, mean, std, LRN constants): real ones are 0.0001 .. 255; 1e6 keeps float32 finite


# ---- rules: each takes a value and returns why it is wrong, or None -----------------------------------
_brief = reprlib.Repr()
_brief.maxstring, _brief.maxother, _brief.maxlist, _brief.maxdict, _brief.maxlevel = 40, 40, 6, 4, 2
show = _brief.repr  # a value in a message: one short line whatever the value holds


def is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def integer(lo, hi):
    """A whole number in lo..hi."""

    def rule(v):
        if not is_int(v):
            return f"{show(v)} is not a whole number"
        return None if lo <= v <= hi else f"{v} is outside {lo}..{hi}"

    return rule


def odd(lo, hi):
    """An odd whole number in lo..hi."""
    whole = integer(lo, hi)
    return lambda v: whole(v) or (None if v % 2 else f"{v} is even, it must be odd (a centred window)")


def list_of(lengths, one):
    """A list of n items, n one of `lengths`, each passing the rule `one`."""

    def rule(v):
        if not isinstance(v, (list, tuple)) or len(v) not in lengths:
            return f"{show(v)} is not a list of {' or '.join(map(str, lengths))} items"
        return next((f"{show(v)}: {one(a)}" for a in v if one(a)), None)

    return rule


def ints(lo, hi, lengths=(2,)):
    """One whole number in lo..hi for every side, or a list of them ([h, w]; pad also [t, b, l, r])."""
    one, many = integer(lo, hi), list_of(lengths, integer(lo, hi))

    def rule(v):
        if is_int(v):
            return one(v)
        if isinstance(v, (list, tuple)) and len(v) in lengths:
            return many(v)
        return f"{show(v)} is not a whole number or a list of {' or '.join(map(str, lengths))} of them"

    return rule


def number(lo, hi):
    """A finite number in lo..hi."""

    def rule(v):
        if not is_number(v) or not (is_int(v) or math.isfinite(v)):
            return f"{show(v)} is not a finite number"
        return None if lo <= v <= hi else f"{v} is outside {lo:g}..{hi:g}"

    return rule


def flag(v):
    """true or false."""
    return None if isinstance(v, bool) else f"{show(v)} is not true or false"


def one_of(*choices):
    return lambda v: (
        None if isinstance(v, str) and v in choices else f"{show(v)} is not one of {', '.join(choices)}"
    )


def text(v):
    """A printable string of 1..MAX_NAME characters (a name: shown in messages, one line)."""
    if not isinstance(v, str) or not 0 < len(v) <= MAX_NAME or not v.isprintable():
        return f"{show(v)} is not a printable string of 1..{MAX_NAME} characters"
    return None


def texts(most):
    """A list of at most `most` names."""

    def rule(v):
        if not isinstance(v, (list, tuple)) or len(v) > most:
            return f"{show(v)} is not a list of at most {most} strings"
        return next((f"item {i}: {text(a)}" for i, a in enumerate(v) if text(a)), None)

    return rule


def kind_of(*types, what):
    return lambda v: None if isinstance(v, types) else f"{show(v)} is not {what}"


def optional(rule):
    """The rule, or null (JSON's None) for "not given"."""
    return lambda v: None if v is None else rule(v)


# ---- the tables: field -> (required, rule) ----------------------------------------------------------
TOP = {
    "name": (False, text),
    "input": (True, kind_of(dict, what="an object")),
    "layers": (True, kind_of(list, tuple, what="a list")),
    "aliases": (False, optional(kind_of(dict, what="an object"))),
    "labels": (False, optional(texts(MAX_CHANNELS))),
    "dream_layers": (False, optional(texts(MAX_LAYERS))),
    "provenance": (False, optional(kind_of(dict, what="an object"))),
}

INPUT_FIELDS = {
    "name": (False, one_of(INPUT)),
    "order": (False, one_of("RGB", "BGR")),
    "scale": (False, number(1 / BIG, BIG)),  # pixel 255 becomes `scale`: 1.0 (torchvision) or 255 (Caffe)
    "mean": (False, list_of((3,), number(-BIG, BIG))),  # one per colour channel
    "std": (False, list_of((3,), number(1 / BIG, BIG))),  # divides: positive, never 0
    "size": (False, list_of((2,), integer(1, MAX_SIDE))),  # [H, W]
}

LAYER_FIELDS = {
    "name": (True, text),
    "kind": (True, one_of(*KINDS)),
    "inputs": (False, texts(MAX_LAYERS)),
    "hp": (False, kind_of(dict, what="an object")),
}

WINDOW = {  # conv, maxpool, avgpool: a kernel slid with a stride over the padded input
    "kernel": (True, ints(1, MAX_KERNEL)),
    "stride": (False, ints(1, MAX_STRIDE)),
    "pad": (False, ints(0, MAX_PAD, lengths=(2, 4))),
}

HP = {  # every kind's hyper-parameters, as the layer modules read them (layers/<kind>.py)
    "conv": {
        **WINDOW,
        "dilation": (False, ints(1, MAX_DILATION)),
        "groups": (False, integer(1, MAX_CHANNELS)),
        "out": (True, integer(1, MAX_CHANNELS)),
        "bias": (False, flag),
        "relu": (False, flag),
    },
    "maxpool": {**WINDOW, "ceil": (False, flag)},
    "avgpool": {**WINDOW, "ceil": (False, flag), "count_pad": (False, flag)},
    "adaptive_avgpool": {"size": (True, ints(1, MAX_POOLED))},
    "lrn": {
        "size": (True, odd(1, MAX_LRN)),
        "alpha": (False, number(0, BIG)),
        "beta": (False, number(0, 16)),
        "k": (False, number(1 / BIG, BIG)),  # scale = k + ...: above 0, so scale^-beta is finite
    },
    "linear": {"out": (True, integer(1, MAX_CHANNELS)), "bias": (False, flag)},
    "relu": {},
    "leaky_relu": {"alpha": (False, number(-BIG, BIG))},  # the slope below 0; ONNX's default 0.01
    "clip": {"min": (True, number(-BIG, BIG)), "max": (True, number(-BIG, BIG))},  # min < max, below
    "concat": {},
    "add": {},
    "flatten": {},
    "softmax": {},
    "batchnorm": {},
}

READS_IMAGE = ("conv", "maxpool", "avgpool", "adaptive_avgpool", "lrn")  # need (C, H, W), not a flat vector


# ---- the check ---------------------------------------------------------------------------------------
def damaged(where, why):
    return UserError(f"architecture damaged: {where}: {why}; convert the weights again")


def validate(spec):
    """Check the whole spec; the first fault raises UserError("architecture damaged: <where>: <why>; ...")."""
    fields(spec, TOP, "")
    fields(spec["input"], INPUT_FIELDS, "input")
    layers = spec["layers"]
    if not 0 < len(layers) <= MAX_LAYERS:
        raise damaged("layers", f"{len(layers)} layers, a network has 1..{MAX_LAYERS}")
    flows = {INPUT: (3, 3)}  # name -> (rank, channels): 3 = (C, H, W), 1 = a flat vector; channels or None
    for i, layer in enumerate(layers):
        name = check_layer(i, layer, flows)
        flows[name] = flow(layer, [flows[s] for s in layer.get("inputs", [INPUT])])
    check_names(spec, flows)


def fields(obj, table, where):
    """obj is an object holding only the table's keys, the required ones, each passing its rule."""
    if not isinstance(obj, dict):
        raise damaged(where or "the architecture", f"{show(obj)} is not an object")
    for key in obj:
        if key not in table:
            known = ", ".join(table) or "none"
            raise damaged(where or "the architecture", f"unknown field {show(key)} (known: {known})")
    for key, (required, rule) in table.items():
        why = rule(obj[key]) if key in obj else "missing" if required else None
        if why:
            raise damaged(f"{where} {key}".strip(), why)


def check_layer(i, layer, flows):
    """One layer's fields, hyper-parameters, window and inputs; returns its name."""
    name = layer.get("name") if isinstance(layer, dict) else None
    where = f"layer {show(name)}" if text(name) is None else f"layer {i}"
    fields(layer, LAYER_FIELDS, where)
    kind, inputs, hp = layer["kind"], layer.get("inputs", [INPUT]), layer.get("hp", {})
    if name in flows:
        raise damaged(
            where, "the name is used twice" if name != INPUT else f"{INPUT!r} is the picture's name"
        )
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise damaged(where, "the name has an empty, '.' or '..' part between slashes (it is an HDF5 path)")
    reads = {"concat": (1, "one or more"), "add": (2, "two or more")}.get(kind)
    if (len(inputs) != 1 and not reads) or (reads and len(inputs) < reads[0]):
        raise damaged(f"{where} inputs", f"{len(inputs)} inputs; {kind} reads {reads[1] if reads else 'one'}")
    for src in inputs:
        if src not in flows:
            raise damaged(f"{where} inputs", f"{show(src)} is not defined above this layer")
    fields(hp, HP[kind], where)
    if "kernel" in HP[kind]:
        check_window(where, kind, hp)
    if kind == "clip" and not hp["min"] < hp["max"]:
        raise damaged(f"{where} max", f"{hp['max']} is not above min {hp['min']}")
    return name


def pair(v):
    return [v, v] if is_int(v) else list(v)


def check_window(where, kind, hp):
    """pad < d(k-1)+1 on every side: a wider pad makes windows of padding alone (and reads outside x).
    The window is read as the layers read it (layers/geometry.py); its fields are already type-checked."""
    geo = geometry.read_conv(hp, where) if kind == "conv" else geometry.read_pool(hp, where)
    eh, ew = geometry.extent(geo)
    if max(geo.pt, geo.pb) >= eh or max(geo.pl, geo.pr) >= ew:
        extent = "dilated kernel" if (geo.dh, geo.dw) != (1, 1) else "kernel"
        raise damaged(f"{where} pad", f"{show(hp['pad'])} is not smaller than the {eh}x{ew} {extent}")


def flow(layer, ins):
    """(rank, channels) of the layer's output from its inputs' (rank 3 = (C, H, W), 1 = flat)."""
    kind, hp, where = layer["kind"], layer.get("hp", {}), f"layer {show(layer['name'])}"
    rank, channels = ins[0]
    if kind in READS_IMAGE and rank != 3:
        raise damaged(f"{where} inputs", f"{kind} reads a (C, H, W) image, its input is a flat vector")
    if kind == "linear" and rank != 1:
        raise damaged(f"{where} inputs", "linear reads a flat vector: a flatten must come before it")
    if kind == "concat":
        if any(r != rank for r, _ in ins):
            raise damaged(f"{where} inputs", "concat joins images with flat vectors")
        counts = [c for _, c in ins]
        return rank, None if None in counts else sum(counts)
    if kind == "add":
        known = {c for _, c in ins} - {None}  # a flattened image's length depends on the picture
        if len({r for r, _ in ins}) != 1 or len(known) > 1:
            terms = ", ".join(f"{c or '?'} channels" if r == 3 else "a flat vector" for r, c in ins)
            raise damaged(f"{where} inputs", f"add sums terms of different shapes ({terms})")
        return rank, known.pop() if known else None
    if kind == "conv":
        g, out = hp.get("groups", 1), hp["out"]
        if channels % g or out % g:
            raise damaged(f"{where} groups", f"{g} groups do not divide {channels} inputs and {out} outputs")
        return 3, out
    if kind == "linear":
        return 1, hp["out"]
    if kind == "flatten":
        return 1, channels if rank == 1 else None  # C*H*W depends on the picture's size
    return rank, channels


def check_names(spec, flows):
    """Aliases and dream layers name real layers; labels name the classes of the last layer."""
    aliases = spec.get("aliases") or {}
    for alias, target in aliases.items():
        why = text(alias) or text(target)
        if why:
            raise damaged(f"aliases {show(alias)}", why)
        if alias in flows:
            raise damaged(f"aliases {show(alias)}", "the alias is also a layer's name")
        if target not in flows or target == INPUT:
            raise damaged(f"aliases {show(alias)}", f"points at {show(target)}, which is not a layer")
    for name in spec.get("dream_layers") or []:
        if (name not in flows or name == INPUT) and name not in aliases:
            raise damaged("dream_layers", f"{show(name)} is not a layer or an alias")
    labels = spec.get("labels")
    if labels is not None:
        rank, classes = flows[spec["layers"][-1]["name"]]
        if rank != 1 or classes != len(labels):
            has = f"has {classes} outputs" if rank == 1 and classes else "is not a classifier's output"
            raise damaged("labels", f"{len(labels)} labels, but the last layer {has}")


# ---- weights that disagree with the architecture -----------------------------------------------------
AXES = {  # where each axis of a parameter's shape comes from (conv OIHW, linear (out, in); layers/*.py)
    ("conv", "weight"): ("out", "input channels / groups", "kernel", "kernel"),
    ("conv", "bias"): ("out",),
    ("linear", "weight"): ("out", "in features (the flattened input)"),
    ("linear", "bias"): ("out",),
    ("batchnorm", "weight"): ("input channels",),
    ("batchnorm", "bias"): ("input channels",),
}


def disagreeing(kind, key, got, want):
    """In words, what a parameter of shape `got` where the architecture makes `want` disagrees on."""
    axes = AXES.get((kind, key), ())
    if len(got) != len(want) or len(axes) != len(want):
        return "number of axes"
    return " and ".join(dict.fromkeys(axes[i] for i in range(len(want)) if got[i] != want[i]))
