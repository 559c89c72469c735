"""Keras .h5 weight files (the legacy layout the Keras Applications weights use), read with h5py.

    /                     attrs layer_names (split into layer_names0, layer_names1, ... when large),
                                keras_version, backend
    /<layer>/             attr weight_names: the layer's weights in the order Keras loads them
    /<layer>/<weight name>  e.g. block1_conv1/block1_conv1_W_1:0 (or nested: block1_conv1/kernel:0)
A full-model file (saved with model.save) keeps the same layout under /model_weights.
Arrays come back as stored: Conv2D kernels HWIO (kh, kw, cin, cout), Dense (in, out); the converter
transposes them to scratchdream's OIHW and (out, in). Groups and datasets are reached through hard links
only and read by hdf5_safe (no external storage, virtual datasets, filters or unwritten chunks).
"""

from collections import OrderedDict

from ...errors import UserError
from . import MAX_OUTPUT_BYTES, check_file, damaged, short
from .hdf5_safe import Datasets, check_global_heaps

WHAT = "Keras .h5 weights file"


def read_keras_weights(path):
    """.h5 -> OrderedDict {layer name: [arrays in weight_names order]} (layers without weights map to [])."""
    import h5py

    check_file(path, WHAT)
    check_global_heaps(path, WHAT)
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise damaged(path, WHAT, "not an HDF5 file, or truncated") from None
    try:
        with f:
            data = Datasets(f, path, WHAT)
            full = data.get(f, "model_weights") if "layer_names" not in f.attrs else None
            root = full if full is not None else f
            out, total = OrderedDict(), 0
            for name in _names(root, "layer_names", path):
                group = data.get(root, name)
                if group is None:
                    raise damaged(path, WHAT, f"layer {short(name)} is listed but has no group")
                arrays = []
                for wname in _names(group, "weight_names", path):
                    ds = data.get(group, wname)
                    if ds is None:
                        raise damaged(
                            path, WHAT, f"layer {short(name)} lists weight {short(wname)} that is not stored"
                        )
                    if not hasattr(ds, "dtype") or ds.dtype.kind != "f":
                        raise damaged(path, WHAT, f"{short(name + '/' + wname)} is not an array of floats")
                    total += ds.size * ds.dtype.itemsize
                    if total > MAX_OUTPUT_BYTES:
                        raise damaged(path, WHAT, "its weights add up to more than any known network")
                    arrays.append(data.read(ds, f"{name}/{wname}"))
                out[name] = arrays
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use another copy") from None
    except Exception as e:  # h5py raises OSError/KeyError/ValueError on damaged files
        raise damaged(path, WHAT, f"{type(e).__name__}: {e}".splitlines()[0][:200]) from None
    return out


def _names(node, attr, path):
    """A list-of-names attribute, joined from its numbered chunks when Keras had to split it."""
    if attr in node.attrs:
        raw = list(node.attrs[attr])
    elif f"{attr}0" in node.attrs:
        raw, i = [], 0
        while f"{attr}{i}" in node.attrs:
            raw += list(node.attrs[f"{attr}{i}"])
            i += 1
    elif attr == "weight_names":
        return []
    else:
        raise UserError(
            f"{path} is an HDF5 file but not Keras weights (no {attr} attribute); "
            "give the .h5 file from keras-applications"
        )
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]
