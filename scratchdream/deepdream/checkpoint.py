"""Checkpoints: a dream's state after each octave, so that a killed run continues where it stopped.

After octave k the loop (loop.py) calls `save(k, x, moved, plan)`; a resumed run calls `restore(plan)` and
starts at octave k + 1. That gives the same bytes as a run never stopped because everything that changes
from one octave to the next is in the file:
    x           (1, 3, h, w) float32: the picture at the end of octave k, in the net's input units
                (the detail the next octave re-injects is x minus the start at that scale, as in the loop)
    the random generators of the jitter and of the tile offsets, at the state they had then
    moved       whether any step had a non-zero gradient so far
The rest (the starting picture, the octave sizes, the objective) is made again from the settings, and
the file holds the sha256 of those settings, of the weights and of the input (`key`, from the caller):
a checkpoint of another run is refused, saying which of the three differs.

The file is our own: a .npz (a zip of two .npy arrays, no pickle) written atomically, holding "meta", a
JSON text, and "x". Reading checks the zip's member names and sizes, each array's header (dtype and
shape, before anything is allocated), the JSON's length, depth and keys, and the sha256 of x.
"""

import hashlib
import io
import json
import os
import zipfile

import numpy as np

from ..atomic import atomic_path
from ..errors import UsageError, UserError
from ..manifest import depth

FORMAT, VERSION = "scratchdream checkpoint", 1
KEYS = ("settings", "net", "input")  # what must be the same to resume, each as a sha256
MAX_META = 20_000  # characters of the JSON text; it is about 600
META = {"format", "version", "octave", "octaves", "moved", "jitter_rng", "tile_rng", "x_sha256", *KEYS}


class Checkpoint:
    """Save a dream's state after each octave to `path`; `resume`: the file to continue from (or None).
    `key`: {"settings", "net", "input"} -> sha256 of each, which a resumed run must match."""

    def __init__(self, path, key, resume=None):
        self.path, self.key, self.resume = os.fspath(path), key, resume

    def save(self, k, x, moved, plan):
        """The state after octave k (0 = the smallest), written atomically."""
        rngs = _rngs(plan)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            **self.key,
            "octave": k,
            "octaves": len(plan.octaves),
            "moved": bool(moved),
            "jitter_rng": rngs[0].bit_generator.state,
            "tile_rng": None if rngs[1] is None else rngs[1].bit_generator.state,
            "x_sha256": hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest(),
        }
        with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), x=np.asarray(x, dtype=np.float32))

    def restore(self, plan):
        """(first octave still to dream, x at the end of the one before or None, moved); the generators
        of `plan` are set to their saved states. Without `resume`: (0, None, False), a fresh start."""
        if self.resume is None:
            return 0, None, False
        meta, x = read(self.resume, plan)
        for name in KEYS:
            if meta[name] != self.key[name]:
                raise UsageError(
                    f"--resume {self.resume} was saved by a run with {_what[name]}; resume with "
                    "the same command line, or start again without --resume"
                )
        _check_picture(self.resume, meta, x, plan)
        jitter_rng, tile_rng = _rngs(plan)
        _set_state(jitter_rng, meta["jitter_rng"], self.resume)
        if tile_rng is not None:
            _set_state(tile_rng, meta["tile_rng"], self.resume)
        return meta["octave"] + 1, x, meta["moved"]


_what = {"settings": "other settings", "net": "other weights", "input": "another input picture"}


def run_key(settings, net_sha256, input_sha256):
    """The key of a run: the sha256 of its settings (any JSON value), of its weights and of its input."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return {"settings": hashlib.sha256(text.encode()).hexdigest(), "net": net_sha256, "input": input_sha256}


def _rngs(plan):
    """The jitter's generator and the tiles' (None when no octave is tiled)."""
    tile = next((o.tiler.rng for o in plan.octaves if o.tiler is not None), None)
    return plan.jitter_rng, tile


def _set_state(rng, state, path):
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError):
        raise _damaged(path, "its random generator state is not one numpy can take") from None


# ---- reading, defensively ----------------------------------------------------------------------------
def read(path, plan):
    """(meta dict, x array) of the checkpoint at `path`, every part checked against `plan` before use."""
    if not os.path.isfile(path):
        raise UsageError(f"--resume {path} not found; check the path, or start without --resume")
    largest = max(h * w for h, w in (o.size for o in plan.octaves)) * 3 * 4
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: i for i in z.infolist()}
            if set(members) != {"meta.npy", "x.npy"}:
                raise _damaged(path, "it does not hold exactly meta and x")
            meta = _meta(_array(z, members["meta.npy"], MAX_META * 4 + 1024, path), path)
            x = _array(z, members["x.npy"], largest + 1024, path)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise _damaged(path, "it is not a complete .npz file") from None
    return meta, x


def _check_picture(path, meta, x, plan):
    """x: the size of the octave it ends, float32, and the sha256 the meta gives it."""
    if meta["octaves"] != len(plan.octaves):
        raise _damaged(path, f"it has {meta['octaves']} octaves where its settings give {len(plan.octaves)}")
    want = (1, 3, *plan.octaves[meta["octave"]].size)
    if x.dtype != np.float32 or x.shape != want:
        raise _damaged(path, f"its picture is {x.dtype} {x.shape}, octave {meta['octave'] + 1} is {want}")
    if hashlib.sha256(x.tobytes()).hexdigest() != meta["x_sha256"]:
        raise _damaged(path, "its picture does not match its sha256")


def _array(z, info, limit, path):
    """One .npy member: its size and header checked before its data is read."""
    if info.file_size > limit:
        raise _damaged(path, f"{info.filename} is {info.file_size:,} bytes, more than {limit:,}")
    data = z.read(info)  # at most `limit` bytes: the zip module stops at the declared size
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        shape, fortran, dtype = read_header[version](f)
    except (ValueError, KeyError, SyntaxError):
        raise _damaged(path, f"{info.filename} is not a .npy array") from None
    if dtype.hasobject or fortran or dtype.kind not in "fU":
        raise _damaged(path, f"{info.filename} holds {dtype}, not plain numbers or text")
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - f.tell() != count * dtype.itemsize:
        raise _damaged(path, f"{info.filename} is cut short or too long")
    return np.frombuffer(data, dtype=dtype, count=count, offset=f.tell()).reshape(shape).copy()


def _meta(a, path):
    """The JSON text in `a`, parsed and checked key by key."""
    if a.dtype.kind != "U" or a.shape != () or len(str(a)) > MAX_META or depth(str(a)) > 4:
        raise _damaged(path, "its meta is not a short JSON text")
    try:
        meta = json.loads(str(a))
    except ValueError:
        raise _damaged(path, "its meta is not JSON") from None
    if not isinstance(meta, dict) or set(meta) != META:
        raise _damaged(path, "its meta does not have the keys of a checkpoint")
    if meta["format"] != FORMAT or meta["version"] != VERSION:
        raise _damaged(path, f"it is not a version {VERSION} scratchdream checkpoint")
    k, n = meta["octave"], meta["octaves"]
    if not (type(k) is int and type(n) is int and 0 <= k < n and isinstance(meta["moved"], bool)):
        raise _damaged(path, "its octave count is not whole numbers")
    if not all(isinstance(meta[name], str) for name in (*KEYS, "x_sha256")):
        raise _damaged(path, "its sha256 entries are not text")
    return meta


def _damaged(path, why):
    return UserError(f"--resume {path} is not a usable checkpoint: {why}; start again without --resume")
