"""Per-net dream defaults: the settings that suit one network, carried in its weights file.

Where each setting of a dream comes from, weakest first:
    DreamOptions' own defaults (options.py: the 2015 notebook's)
    the net's dream defaults    the weights file's root attribute `dream_defaults`, a JSON object such as
                                {"layers": ["conv3"], "octaves": 3, "step_size": 2.0}; for a zoo net
                                without one, its zoo entry's (nets/zoo.py)
    a recipe                    --recipe google2015 (recipes.py)
    what the user gave          a flag on the command line, or a keyword of sd.dream / sd.zoom, always wins
`for_net` is the one place that puts them in, for `dream` (one picture or many), `zoom` and `video` (the
command line and the Python API) and `survey` (only how a step behaves: its normalisation and smoothing;
the survey chooses its own layers, octaves, steps and jitter).
A damaged attribute (an unknown key, a wrong type, a value out of its range) is one line, "dream defaults
damaged: ...", checked by the same RANGES as any setting, before the first step.
"""

from dataclasses import replace

from ..errors import SettingError, UserError
from .options import DreamOptions

# the settings a weights file may carry: every DreamOptions field that is plain JSON and about the net
# (not the seed, not a guide picture, not one channel or neuron of the user's choosing)
FIELDS = (
    "layers",
    "octaves",
    "octave_scale",
    "steps",
    "step_size",
    "jitter",
    "normalize",
    "smooth",
    "tile",
    "tile_margin",
    "start",
    "belief",
)
# a belief default (and the layer it is read at) is a whole objective: it yields to any objective the user
# gives, not only to --belief itself (a --layer, --channel, --neuron or --guide of the user's, or --class)
OBJECTIVE = ("layers", "channel", "neuron", "guide", "belief")


def check_defaults(defaults, where="dream defaults"):
    """A dream_defaults object as read from JSON -> itself (layers as a list of "name[:weight]"), or one
    UserError line "dream defaults damaged: ..." naming the key and the rule it breaks."""
    if not isinstance(defaults, dict):
        raise UserError(f"{where} damaged: not a JSON object ({{setting: value}}); convert the file again")
    for key in defaults:
        if key not in FIELDS:
            raise UserError(f"{where} damaged: unknown setting {key!r} (known: {', '.join(FIELDS)})")
    layers = defaults.get("layers")
    if layers is not None and not (isinstance(layers, list) and all(isinstance(n, str) for n in layers)):
        raise UserError(f'{where} damaged: layers must be a list of "name" or "name:weight", got {layers!r}')
    try:
        DreamOptions(**defaults)  # the one table of ranges (options.RANGES)
    except SettingError as e:
        raise UserError(f"{where} damaged: {e}") from None
    return dict(defaults)


def check_layers(net, defaults, where="dream defaults"):
    """Every layer the defaults name is a layer (or alias) of `net`, and every class a belief default
    leaves out is one of its classes, by the file's own labels (every file with a belief default has
    them); else the file's own defaults would fail every dream as the user's mistake."""
    for name, _ in DreamOptions(layers=defaults.get("layers")).layers:
        if name not in net.layer_names and name not in net.aliases:
            raise UserError(f"{where} damaged: layers: {name!r} is not a layer of {net.name}")
    from ..nets import classes  # not zoo: zoo reads files through weights_io, which calls this

    for leave_out in defaults.get("belief") or ():
        try:
            classes.find(net, leave_out, net.labels)
        except UserError:
            shown = str(leave_out)[:60]
            raise UserError(
                f"{where} damaged: belief leaves out {shown!r}, which is not a class of {net.name}"
            ) from None


def apply(options, defaults, given=()):
    """options (a DreamOptions) with each setting of `defaults` that the user did not give (`given`, names
    of DreamOptions fields) put in; checked again as a whole."""
    if "belief" in defaults and any(key in given for key in OBJECTIVE):
        defaults = {key: value for key, value in defaults.items() if key not in ("belief", "layers")}
    taken = {key: value for key, value in defaults.items() if key not in given}
    return replace(options, **taken) if taken else options


def for_net(net, options, given=(), recipe=None, fields=FIELDS):
    """options (a DreamOptions) with the net's dream defaults (those among `fields`), then the recipe's
    settings (all of them, `notebook` too), put in for each setting that the user did not give (`given`:
    names of DreamOptions fields)."""
    own = getattr(net, "dream_defaults", None) or {}
    return apply(options, {**{k: v for k, v in own.items() if k in fields}, **(recipe or {})}, given)


def shown(defaults):
    """The defaults in one line for `scratchdream layers`: "layers conv3, octaves 3, step_size 2"."""
    parts = []
    for key in FIELDS:
        if key in defaults:
            value = defaults[key]
            parts.append(_shown_one(key, value))
    return "; ".join(parts) or "-"


def _shown_one(key, value):
    if key == "layers":
        return f"layers {', '.join(value)}"
    if key == "belief":
        return "belief" + (f" without {', '.join(value)}" if value else "")
    return f"{key} {value}"
