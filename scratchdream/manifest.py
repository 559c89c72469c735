"""The manifest: how a picture was made, written into the picture itself, so that it can be made again.

Every PNG, JPEG and GIF a run writes carries one (a PNG tEXt chunk, a JPEG or GIF comment) under the key
"scratchdream". It is a JSON object holding the manifest and the sha256 of its canonical form:

    {"manifest": {"format": "scratchdream manifest", "version": 1, "scratchdream": "0.1.0",
                  "command": "dream", "output": "picture", "frame": null, "kernels": "fast",
                  "net": {"name": ..., "source": ..., "sha256": ...},
                  "input": {"file": "sky.png", "sha256": ...}, "guide": null,
                  "settings": {"octaves": 4, "steps": 10, "seed": 0, ...}},
     "sha256": "<sha256 of the manifest as canonical JSON: sorted keys, no spaces, ASCII>"}

The sha256 makes an edit or a cut evident (it is a checksum, not a signature: whoever edits the file
on purpose can compute it again). Files are named by their base name only, never by their folder, so a
published picture does not carry its maker's folders. `scratchdream info` prints a manifest and
`scratchdream replay` makes its picture again (cli/info.py, cli/replay.py).

To give a new command's pictures a manifest: add its settings to SETTINGS, build one with `make`, and
write it with image_io.save_image / save_gif (manifest=...) or Pillow's save(**save_options(...)).

Reading is defensive: at most MAX_TEXT characters before json.loads, at most MAX_DEPTH levels of
nesting, no NaN or Infinity, no key that the schema does not know, every value of the type it must have.
"""

import hashlib
import json
import os

from .errors import UserError

KEY = "scratchdream"  # the PNG text key; in a JPEG or GIF comment the JSON stands alone
FORMAT, VERSION = "scratchdream manifest", 1
MAX_TEXT = 60_000  # characters: a manifest is about 1 kB; a JPEG comment holds at most 65,533 bytes
MAX_DEPTH = 5  # {"manifest": {"settings": {"layers": [[name, weight]]}}}: five levels
OUTPUTS = ("picture", "gif", "frame")  # what the file is: the run's main picture, its GIF, or a zoom frame


# ---- the schema: every key a manifest may have, and what its value must be ---------------------------
def _of(*kinds):
    return lambda v: any(k(v) for k in kinds)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v):
    return _int(v) or isinstance(v, float)


def _str(v):
    return isinstance(v, str) and len(v) <= 1000


def _none(v):
    return v is None


def _hex(v):
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _layers(v):
    return isinstance(v, list) and all(
        isinstance(t, list) and len(t) == 2 and _str(t[0]) and _num(t[1]) for t in v
    )


def _names(v):
    return isinstance(v, list) and len(v) <= 100_000 and all(_str(n) and "," not in n for n in v)


def _neuron(v):
    return isinstance(v, list) and len(v) == 3 and all(_int(i) for i in v)


def _file(v):
    return _record(v, FILE) is None


FILE = {"file": _str, "sha256": _hex}
NET = {"name": _str, "source": _str, "sha256": _hex}
DREAM = {  # DreamOptions' fields (the guide is the manifest's own "guide" entry)
    "layers": _layers,
    "channel": _of(_int, _none),
    "neuron": _of(_neuron, _none),
    "octaves": _int,
    "octave_scale": _num,
    "steps": _int,
    "step_size": _num,
    "jitter": _int,
    "normalize": _str,
    "smooth": _num,
    "tile": _int,
    "tile_margin": _of(_int, _str, _none),
    "start": _str,
    "seed": _int,
    "notebook": lambda v: isinstance(v, bool),  # --recipe google2015: the notebook's own arithmetic
    "belief": _of(_names, _none),  # the classes the belief objective leaves out; None: no belief
}
# keys added after manifests were first written: a manifest without one means its value was None
LATER = {"belief"}
SETTINGS = {  # command -> its settings
    "dream": {**DREAM, "max_size": _of(_int, _none)},  # --max-size: the picture shrunk before the dream
    "zoom": {**{k: v for k, v in DREAM.items() if k != "start"}, "frames": _int, "factor": _num},  # no --from
    "lecture": {
        "layer": _of(_str, _none),
        "channel": _of(_int, _none),
        "neuron": _of(_neuron, _none),
        "steps": _int,
        "eta": _of(_num, _none),
        "seed": _int,
    },
    "toyworld": {"seed": _int, "control": _of(_hex, _none)},  # `toyworld demo`: no input, all its own
}
TOP = {
    "format": lambda v: v == FORMAT,
    "version": lambda v: v == VERSION,
    "scratchdream": _str,
    "command": lambda v: v in SETTINGS,
    "output": lambda v: v in OUTPUTS,
    "frame": _of(_int, _none),
    "kernels": _str,
    "net": lambda v: _record(v, NET) is None,
    "input": _of(_file, _none),  # none: the toyworld demo draws its own pictures
    "guide": _of(_file, _none),
    "settings": lambda v: isinstance(v, dict),  # checked against SETTINGS[command] below
}


# ---- writing ---------------------------------------------------------------------------------------
def make(made_by, command, settings, net, inp, guide=None, output="picture", frame=None, kernels="fast"):
    """A manifest (a dict, checked against the schema), made by scratchdream version `made_by`;
    `net` is {"name", "source", "sha256"}, `inp` and `guide` are {"file", "sha256"} (file_record),
    `settings` the command's settings as plain JSON values."""
    m = {
        "format": FORMAT,
        "version": VERSION,
        "scratchdream": made_by,
        "command": command,
        "output": output,
        "frame": frame,
        "kernels": kernels,
        "net": net,
        "input": inp,
        "guide": guide,
        "settings": settings,
    }
    problem = check(m)
    if problem:
        raise ValueError(f"manifest.make: {problem}")
    return m


def file_record(path):
    """{"file": its base name, "sha256": of its bytes}: a file as a manifest names it."""
    return {"file": os.path.basename(os.fspath(path)), "sha256": sha256_file(path)}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical(value):
    """The one JSON text of a value: sorted keys, no spaces, ASCII only, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def text(m):
    """The text stored in a picture: the manifest and the sha256 of its canonical JSON."""
    return canonical({"manifest": m, "sha256": hashlib.sha256(canonical(m).encode()).hexdigest()})


def with_output(m, output, frame=None):
    """The same manifest for another output of the same run (its GIF, a zoom frame)."""
    return {**m, "output": output, "frame": frame}


def save_options(fmt, m):
    """Pillow's save() keywords that put manifest `m` into a picture of format fmt (PNG, JPEG, GIF)."""
    if m is None:
        return {}
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text(KEY, text(m))  # tEXt (ASCII), written before the pixels
        return {"pnginfo": info}
    return {"comment": text(m).encode("ascii")}


# ---- reading ---------------------------------------------------------------------------------------
def read(path):
    """The manifest of the picture at `path` (a dict), or one UserError line: no manifest, cut, edited,
    or not of this schema."""
    stored = _stored_text(path)
    if stored is None:
        raise UserError(
            f"{path} carries no scratchdream manifest (it was not written by scratchdream, or a program "
            "rewrote it and dropped the metadata); replay needs the original output file"
        )
    return parse(stored, path)


def parse(stored, path="the picture"):
    """The manifest in the stored text, checked: size, depth, JSON, sha256, then the schema."""
    if len(stored) > MAX_TEXT:
        raise _damaged(path, f"its manifest is {len(stored):,} characters long, more than {MAX_TEXT:,}")
    if depth(stored) > MAX_DEPTH:
        raise _damaged(path, f"its manifest is nested more than {MAX_DEPTH} levels deep")
    try:
        outer = json.loads(stored, parse_constant=_no_constant)
    except ValueError:
        raise _damaged(path, "its manifest is not complete JSON (cut short or edited)") from None
    if (
        not isinstance(outer, dict)
        or set(outer) != {"manifest", "sha256"}
        or not isinstance(outer["manifest"], dict)
    ):
        raise _damaged(path, 'its manifest is not a {"manifest", "sha256"} record')
    m = outer["manifest"]
    if hashlib.sha256(canonical(m).encode()).hexdigest() != outer["sha256"]:
        raise _damaged(path, "its manifest was edited (its sha256 does not match its content)")
    problem = check(m)
    if problem:
        raise _damaged(path, f"its manifest does not fit version {VERSION} of the schema ({problem})")
    return m


def check(m):
    """None if `m` fits the schema, else what is wrong, in a few words."""
    problem = _record(m, TOP)
    if problem:
        return problem
    return _record(m["settings"], SETTINGS[m["command"]], "settings.")


def _record(value, schema, where=""):
    if not isinstance(value, dict):
        return f"{where or 'the manifest'} is not a record"
    unknown = sorted(set(value) - set(schema))
    if unknown:
        return f"unknown key {where}{unknown[0]}"
    missing = sorted(set(schema) - set(value) - LATER)
    if missing:
        return f"missing key {where}{missing[0]}"
    for key, ok in schema.items():
        if not ok(value.get(key)):
            return f"{where}{key} has a value of the wrong kind"
    return None


def _stored_text(path):
    """The manifest text in the picture's metadata, read without decoding its pixels; None if absent."""
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"{path} not found; check the path")
    try:
        with Image.open(path) as im:
            value = im.info.get(KEY) if im.format == "PNG" else im.info.get("comment")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UserError(f"{path} is not a picture Pillow can read; give a PNG, JPEG or GIF output") from None
    if isinstance(value, bytes):  # a comment: ours starts as a JSON object does, another program's not
        return value.decode("latin-1") if value.startswith(b"{") else None
    return value


def depth(stored):
    """How deeply a JSON text nests its brackets (strings skipped), counted before json.loads, whose
    recursion a deep text would exhaust."""
    level = deepest = 0
    in_string = escaped = False
    for c in stored:
        if in_string:
            escaped, in_string = (False, True) if escaped else (c == "\\", c != '"')
        elif c == '"':
            in_string = True
        elif c in "[{":
            level += 1
            deepest = max(deepest, level)
        elif c in "]}":
            level -= 1
    return deepest


def _no_constant(name):
    raise ValueError(f"{name} is not a number")


def _damaged(path, why):
    return UserError(f"{path}: {why}; use the picture as scratchdream wrote it")
