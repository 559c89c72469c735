"""scratchdream's own weight file: one HDF5 file per network, enough to rebuild it.

Layout (weights/README.md shows it as `h5dump -H` prints it):
    /                      attrs: format = "scratchdream-weights", format_version = 1, name,
                                  architecture (the spec as JSON), preprocessing (JSON),
                                  labels (JSON or absent),
                                  provenance (JSON: source_url, source_sha256, converter_version, ...),
                                  dream_defaults (JSON or absent: deepdream/defaults.py),
                                  belief_prior (JSON or absent: {"layer": "fc", "p": [q_1, ... q_K],
                                  "empty": "nothing" (optional), "side": 76 (optional)}, the net's
                                  mean belief on empty scenes, its class for one and the square it
                                  was read at: objectives.belief_weights, plan.belief_view)
    /params/<layer>/weight float32; conv OIHW (K, C/g, kh, kw), linear (out, in), batchnorm (C,)
    /params/<layer>/bias   float32 (K,)
A layer name with '/' (Caffe's "inception_4c/1x1") becomes nested groups, as HDF5 paths do.
Writing is atomic; reading checks format, version, every name and every shape before it reads data, and
`load_file` reads a layer's numbers only when a forward first runs that layer (nets/lazy_params.py).
"""

import json
import os

import numpy as np

from .atomic import atomic_path
from .deepdream.defaults import check_defaults, check_layers
from .errors import UsageError, UserError
from .nets.lazy_params import LazyParams
from .nets.readers.hdf5_safe import Datasets, check_global_heaps
from .nets.spec import damaged, disagreeing

FORMAT = "scratchdream-weights"
FORMAT_VERSION = 1
MAX_PARAM_BYTES = 4 << 30  # no network we know comes near 4 GiB; refuse before allocating
MAX_JSON_CHARS = 16 << 20  # an attribute's JSON; Keras Inception v3's architecture, the largest, is 24 KB
MAX_PRIOR_SIDE = 4096  # a belief prior's picture (the toy world's is 76 px); larger would only cost time


def save_net(net, path):
    """Write `net` (spec + parameters) to `path` atomically."""
    import h5py

    spec = dict(net.spec)
    _check_room(
        path, sum(int(np.prod(np.shape(a))) * 4 for arrays in net.params.values() for a in arrays.values())
    )
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["name"] = net.name
            f.attrs["architecture"] = json.dumps(
                {k: v for k, v in spec.items() if k not in ("labels", "provenance")}
            )
            f.attrs["preprocessing"] = json.dumps(spec["input"])
            if net.labels is not None:
                f.attrs["labels"] = json.dumps(list(net.labels))
            f.attrs["provenance"] = json.dumps(spec.get("provenance") or {})
            if getattr(net, "dream_defaults", None):
                f.attrs["dream_defaults"] = json.dumps(net.dream_defaults)
            if getattr(net, "belief_prior", None):
                f.attrs["belief_prior"] = json.dumps(net.belief_prior)
            group = f.create_group("params")
            for layer, arrays in net.params.items():
                for key, arr in arrays.items():
                    group.create_dataset(f"{layer}/{key}", data=np.asarray(arr, np.float32))


def _check_room(path, nbytes):
    """Refuse before writing when the disk (or `ulimit -f`) cannot take about `nbytes`: HDF5 does not
    report a failed write as an error Python can catch, it can crash the process and leave the .part."""
    import shutil

    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    need = int(nbytes * 1.01) + (1 << 20)  # the HDF5 layout and attributes on top of the numbers
    room = shutil.disk_usage(folder).free if os.path.isdir(folder) else need
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            room = min(room, limit)
    except ImportError:  # not POSIX: no such limit
        pass
    if need > room:
        raise UserError(
            f"cannot write {path}: it needs about {need / 2**20:.0f} MB and only {room / 2**20:.0f} MB can "
            "be written there; free space or choose another folder"
        )


def read_spec_and_params(path, lazy=False):
    """Parse a weights file defensively; returns (spec, params). Every failure is one UserError line.

    lazy=True: every name, shape and dataset is checked now, but the numbers are read when a layer first
    needs them (params is then a nets/lazy_params.LazyParams)."""
    return _reading(path, lambda: _read_spec_and_params(path, lazy))


def _reading(path, read):
    """read(), with every failure of a damaged file turned into one UserError line."""
    try:
        return read()
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use a smaller network") from None
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:  # h5py, on damaged HDF5 structures
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise UserError(f"{path} is a damaged HDF5 file ({detail}); fetch or convert it again") from None


def _read_spec_and_params(path, lazy):
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(
            f"weights file {path} not found; run `scratchdream fetch NAME` or give the right path"
        )
    check_global_heaps(path, "scratchdream weights file")  # before libhdf5 sees them: see hdf5_safe
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise UserError(
            f"{path} is not a readable HDF5 file (truncated or another format); fetch or convert it again"
        ) from None
    with f:
        fmt = _attr(f, "format", path)
        if fmt != FORMAT:
            raise UserError(
                f"{path} is an HDF5 file but not a scratchdream weights file (format={fmt!r}); "
                "convert it with `scratchdream convert`"
            )
        version = _attr(f, "format_version", path)
        if not isinstance(version, (int, np.integer)) or version != FORMAT_VERSION:
            raise UserError(
                f"{path} has weights format version {version}, this scratchdream reads version "
                f"{FORMAT_VERSION}; convert it again with this version"
            )
        spec = _json_attr(f, "architecture", path)
        if not isinstance(spec, dict):
            raise UserError(f"{path}: {damaged('architecture', 'not a JSON object')}")
        spec["input"] = _json_attr(f, "preprocessing", path)
        spec["labels"] = _json_attr(f, "labels", path) if "labels" in f.attrs else None
        spec["provenance"] = _json_attr(f, "provenance", path) if "provenance" in f.attrs else {}
        dream_defaults = {}
        if "dream_defaults" in f.attrs:
            dream_defaults = check_defaults(_json_attr(f, "dream_defaults", path), f"{path}: dream defaults")
        prior = None
        if "belief_prior" in f.attrs:
            prior = check_prior(_json_attr(f, "belief_prior", path), spec, path)
        from .nets.graph import Net

        try:
            shapes = Net(spec).param_shapes  # every field checked first (nets/spec.py)
        except UsageError:
            raise  # the caller's mistake (e.g. SCRATCHDREAM_KERNELS), not the file's
        except UserError as e:
            raise UserError(f"{path}: {e}") from None
        kinds = {layer["name"]: layer["kind"] for layer in spec["layers"]}
        total = sum(int(np.prod(s)) * 4 for p in shapes.values() for s in p.values())
        if total > MAX_PARAM_BYTES:
            raise UserError(f"{path}: the architecture asks for {total / 2**30:.1f} GiB of weights; refusing")
        params, data = {}, Datasets(f, path, "scratchdream weights file")
        for layer, keys in shapes.items():
            for key, shape in keys.items():
                name = f"params/{layer}/{key}"
                ds = data.get(f, name)  # hard links only: nothing outside this file
                if ds is None:
                    raise UserError(f"{path}: missing {name}; the file is incomplete, convert it again")
                if isinstance(ds, h5py.Dataset) and ds.shape == tuple(shape) and ds.dtype.kind != "f":
                    raise UserError(
                        f"{path}: {name} holds {ds.dtype} numbers, weights are floating point; "
                        "the file is damaged, convert it again"
                    )
                if not isinstance(ds, h5py.Dataset) or ds.shape != tuple(shape) or ds.dtype.kind != "f":
                    got = getattr(ds, "shape", None)
                    wrong = got is not None and tuple(got) != tuple(shape)
                    differ = f" (differs in {disagreeing(kinds[layer], key, got, shape)})" if wrong else ""
                    raise UserError(
                        f"{layer}: the file has {key} {got or '?'}, this net needs {tuple(shape)}{differ}; "
                        "was it converted for another net?"
                    )
                if lazy:
                    data.check(ds, name)  # the numbers are read when the layer first runs
                else:
                    params.setdefault(layer, {})[key] = _numbers(data.read(ds, name), path, name)
    if lazy:
        params = LazyParams(
            shapes, lambda layer: _reading(path, lambda: _read_layer(path, layer, shapes[layer]))
        )
    if dream_defaults:  # taken out again by load_file: not part of the architecture
        spec["dream_defaults"] = dream_defaults
    if prior:
        spec["belief_prior"] = prior
    return spec, params


def _read_layer(path, layer, keys):
    """One layer's parameters {key: float32 array}, the file opened read-only again for them and every
    dataset checked again (the file may have changed since it was opened)."""
    import h5py

    with h5py.File(path, "r") as f:
        data, out = Datasets(f, path, "scratchdream weights file"), {}
        for key, shape in keys.items():
            name = f"params/{layer}/{key}"
            ds = data.get(f, name)
            if not isinstance(ds, h5py.Dataset) or ds.shape != tuple(shape):
                raise UserError(
                    f"{path}: {name} changed after the file was opened; fetch or convert it again"
                )
            out[key] = _numbers(data.read(ds, name), path, name)
    return out


def _numbers(arr, path, name):
    """A dataset's numbers as float32, refused when any is NaN or infinite."""
    arr = np.asarray(arr, np.float32)
    if not np.isfinite(arr).all():
        raise UserError(
            f"{path}: {name} holds NaN or infinite numbers (damaged, or from a training run "
            "that diverged); fetch or convert it again"
        )
    return arr


def load_file(path):
    """The Net of a weights file, its parameters read as its layers first run (lazy_params.py)."""
    from .nets.graph import Net

    spec, params = read_spec_and_params(path, lazy=True)
    defaults = spec.pop("dream_defaults", {})
    prior = spec.pop("belief_prior", None)
    net = Net(spec, params)
    check_layers(net, defaults, f"{path}: dream defaults")
    net.dream_defaults = defaults
    net.belief_prior = prior
    return net


def check_prior(prior, spec, path):
    """A belief_prior object as read from JSON -> itself, or one UserError line naming what is wrong: a
    layer of the architecture, one positive finite probability per class (at most one per label), and
    optionally the name of the class that stands for an empty scene (a label of the net) and the side of
    the square picture the prior was read at (a whole number of pixels, 1 to MAX_PRIOR_SIDE)."""

    def bad(why):
        return UserError(f"{path}: belief prior damaged: {why}; convert or train the file again")

    if not isinstance(prior, dict) or not {"layer", "p"} <= set(prior) <= {"layer", "p", "empty", "side"}:
        raise bad(
            'not a JSON object {"layer": name, "p": [probabilities], "empty": class (optional), '
            '"side": pixels (optional)}'
        )
    names = [layer.get("name") for layer in spec.get("layers", []) if isinstance(layer, dict)]
    if prior["layer"] not in names:
        raise bad(f"{str(prior['layer'])[:60]!r} is not a layer of this net")
    p = prior["p"]
    labels = spec.get("labels")
    if not isinstance(p, list) or not p or (labels is not None and len(p) != len(labels)):
        raise bad("p must be a list with one probability per class")
    if not all(isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q <= 1 for q in p):
        raise bad("every probability must be a number in (0, 1]")
    checked = {"layer": prior["layer"], "p": [float(q) for q in p]}
    if "empty" in prior:
        if not (isinstance(prior["empty"], str) and labels is not None and prior["empty"] in labels):
            raise bad(f"empty must name one of the net's classes, got {str(prior['empty'])[:60]!r}")
        checked["empty"] = prior["empty"]
    if "side" in prior:
        side = prior["side"]
        if not (isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= MAX_PRIOR_SIDE):
            raise bad(f"side must be a whole number of pixels, 1 to {MAX_PRIOR_SIDE}, got {str(side)[:60]!r}")
        checked["side"] = side
    return checked


def _attr(f, key, path):
    if key not in f.attrs:
        raise UserError(
            f"{path} has no {key!r} attribute: not a scratchdream weights file; "
            "convert it with `scratchdream convert`"
        )
    v = f.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def _json_attr(f, key, path):
    """A JSON attribute, parsed; one line when it is not JSON, too long, or nested too deep for Python."""
    text = _attr(f, key, path)
    if isinstance(text, str) and len(text) > MAX_JSON_CHARS:
        raise UserError(
            f"{path}: {damaged(key, f'{len(text):,} characters of JSON, far more than any net needs')}"
        )
    try:
        return json.loads(text)
    except RecursionError:  # json's parser counts its depth and stops at Python's recursion limit
        raise UserError(
            f"{path}: {damaged(key, 'JSON nested deeper than any network description')}"
        ) from None
    except (TypeError, ValueError):
        raise UserError(
            f"{path}: attribute {key!r} is not valid JSON; the file is damaged, convert it again"
        ) from None


def default_weights_dir():
    """Where converted weights live: $SCRATCHDREAM_WEIGHTS, else the repo's weights/, else
    ~/.cache/scratchdream."""
    env = os.environ.get("SCRATCHDREAM_WEIGHTS")
    if env:
        return env
    if os.path.isdir(repo_weights_dir()):
        return repo_weights_dir()
    return os.path.join(os.path.expanduser("~"), ".cache", "scratchdream")


def repo_weights_dir():
    """The weights/ folder of a source checkout, beside the package (it holds the committed toyworld.h5)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
