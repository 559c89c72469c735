"""Conversion: a publisher's file (.caffemodel, torchvision .pth, Keras .h5, .onnx) -> a Net -> our HDF5.

    convert_file(path, net=None) -> Net        recognise, read, check every name and shape, attach provenance
    scratchdream convert FILE [--net NAME] [--prototxt deploy.prototxt] -o OUT [--force]

Steps: detect the file format from its first bytes; read it with our own readers (no torch, Caffe or
TensorFlow); flatten it to {source key: array}; pick the network (from --net, else the one zoo entry of
that format whose parameter keys the file holds, the file name breaking ties); let the `params_from` of
its Arch record (nets/archs/) copy and re-lay the tensors (each name and shape checked, one-line error
otherwise); build the Net. Keys the file has beyond the network's are training-only (Caffe's data layers
and auxiliary heads, BatchNorm's num_batches_tracked, torchvision GoogLeNet's aux1/aux2) and are ignored.
An ONNX file carries its own architecture: nets/onnx_graph.py builds the spec from its graph, and --net
names the net (a zoo name also lends its preprocessing).
"""

import hashlib
import os

import numpy as np

from ..errors import SettingError, UserError
from . import zoo
from .graph import Net
from .onnx_graph import onnx_net
from .readers.caffemodel import read_caffemodel_layers
from .readers.keras_h5 import read_keras_weights
from .readers.pth import load_state_dict

CONVERTER_VERSION = "1"
IGNORED_PREFIXES = ("aux1.", "aux2.")  # torchvision GoogLeNet's untrained auxiliary heads
IGNORED_SUFFIXES = (".num_batches_tracked",)  # a BatchNorm step counter, not a weight

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def detect_format(path):
    """'pth' | 'caffemodel' | 'keras_h5' | 'scratchdream' from the first bytes (and the name for protobuf)."""
    if not os.path.isfile(path):
        raise UserError(f"{path} not found; give the path of a .caffemodel, .pth, Keras .h5 or .onnx file")
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(HDF5_MAGIC):
        return "scratchdream" if _is_ours(path) else "keras_h5"
    if path.endswith(".onnx") or head[:1] == b"\x08":  # ModelProto starts with ir_version, field 1 varint
        return "onnx"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" or head[257:262] == b"ustar":
        return "pth"
    if path.endswith(".caffemodel") or head[:1] in (b"\x0a", b"\x12") or head[:2] == b"\xa2\x06":
        return "caffemodel"
    raise UserError(
        f"{path} is not a file scratchdream can convert (expected a Caffe .caffemodel, a PyTorch .pth "
        "state dict, a Keras .h5 weights file or an .onnx model)"
    )


def _is_ours(path):
    import h5py  # imported on use, as weights_io does: loading it takes 0.2 s

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") in ("scratchdream-weights", b"scratchdream-weights")
    except OSError:
        return False


def read_tensors(path, fmt):
    """The file's arrays as one flat {key: ndarray}: state-dict keys, 'layer:weight'/'layer:bias' for Caffe
    blobs (blobs[0], blobs[1]), 'layer:i' for the i-th weight of a Keras layer."""
    if fmt == "pth":
        return without_data_parallel(load_state_dict(path))
    if fmt == "caffemodel":
        out = CaffeTensors()
        out.layers = read_caffemodel_layers(path)
        for layer in out.layers:
            for what, blob in zip(("weight", "bias"), layer.blobs):
                if f"{layer.name}:{what}" in out:
                    raise UserError(
                        f"{path}: two layers named {layer.name!r} both carry weights; the file is damaged"
                    )
                out[f"{layer.name}:{what}"] = blob
        return out
    if fmt == "keras_h5":
        return {
            f"{layer}:{i}": a
            for layer, arrays in read_keras_weights(path).items()
            for i, a in enumerate(arrays)
        }
    raise UserError(f"{path} is already a scratchdream weights file; load it directly (no conversion needed)")


def without_data_parallel(state):
    """The state dict with torch.nn.DataParallel's `module.` taken out of every key, wherever it wraps
    (`module.conv1.weight`, or `features.module.0.weight` when only `features` was wrapped, as the
    Places365 authors did for AlexNet); two keys that become one are a damaged file."""
    out = {}
    for key, value in state.items():
        plain = ".".join(part for part in key.split(".") if part != "module")
        if plain in out:
            raise UserError(f"the file holds both {key!r} and another key for {plain!r}; it is damaged")
        out[plain] = value
    return out


class CaffeTensors(dict):
    """Caffe blobs by 'layer:weight'/'layer:bias', plus `.layers`: each layer's stored parameters."""

    layers = ()


def _used_keys(tensors):
    return {k for k in tensors if not k.startswith(IGNORED_PREFIXES) and not k.endswith(IGNORED_SUFFIXES)}


def fits(name, tensors, fmt):
    """True when the file holds every parameter key of zoo network `name` (and, a state dict, no other)."""
    e = zoo.entry(name)
    if e.format != fmt or e.arch is None:
        return False
    if e.arch.fits is not None:  # files whose layer names are not fixed (Keras' automatic numbering)
        return e.arch.fits(tensors, _param_shapes(name))
    need = e.arch.file_keys(_param_shapes(name))
    if fmt == "pth":  # a state dict is exactly one module's: extra keys mean another net
        return _used_keys(tensors) == need
    return need <= set(tensors)  # Caffe/Keras files also hold training-only layers


def recognise(path, tensors, fmt):
    """The zoo name for this file: by contents; the file name breaks ties; refused when nothing fits."""
    return candidates(path, tensors, fmt)[0]


def candidates(path, tensors, fmt):
    """Every zoo name whose keys the file holds, most likely first: those whose publisher's file name the
    file's name contains, the longest such name first (resnet18_places365 before resnet18), then the rest
    in zoo order. Keys alone cannot tell nets that differ only in sizes (1000 or 365 classes)."""
    fitting = [n for n in zoo.known_names() if fits(n, tensors, fmt)]
    if not fitting:
        known = ", ".join(n for n in zoo.known_names() if zoo.entry(n).arch is not None)
        raise UserError(
            f"{os.path.basename(path)} matches none of the known architectures ({known}); "
            "if it is one of them under other names, it cannot be converted as is"
        )
    base = os.path.basename(path).lower()

    def stem(n):
        return zoo.entry(n).filename.split("-")[0].split(".")[0].lower()

    named = sorted((n for n in fitting if stem(n) in base), key=lambda n: -len(stem(n)))
    return named + [n for n in fitting if n not in named]


_SHAPES = {}


def _param_shapes(name):
    if name not in _SHAPES:
        _SHAPES[name] = Net(zoo.spec_for(name)).param_shapes
    return _SHAPES[name]


def file_digests(path, extra=None):
    """sha256 of the whole file (and `extra`, e.g. the publisher's sha1), in one streaming pass."""
    hashers = {"sha256": hashlib.sha256()}
    if extra and extra not in hashers:
        hashers[extra] = hashlib.new(extra)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            for h in hashers.values():
                h.update(chunk)
    return {k: h.hexdigest() for k, h in hashers.items()}


def convert_file(path, net=None, prototxt=None):
    """A Net with the weights of the publisher's file at `path` (net: a zoo name, else recognised);
    `prototxt`: a Caffe deploy.prototxt to check the architecture against as well."""
    path = os.fspath(path)
    fmt = detect_format(path)
    if fmt == "onnx":
        return convert_onnx(path, net, prototxt)
    box = {"tensors": read_tensors(path, fmt)}  # emptied once copied, so the file's arrays can go
    if net is not None:
        return _convert(path, fmt, box, net, prototxt)
    tried = candidates(path, box["tensors"], fmt)
    for i, name in enumerate(tried):  # the same keys may hold other sizes: the first whose shapes fit
        try:
            return _convert(path, fmt, box, name, prototxt)
        except UserError:
            if i == len(tried) - 1:
                raise


def _convert(path, fmt, box, net, prototxt):
    """convert_file for the zoo network `net`; box["tensors"]: the file's arrays."""
    tensors = box["tensors"]
    e = zoo.entry(net)
    if e.format != fmt:
        raise SettingError(
            "{net} {name} expects a {want} file, but {file} is a {got} file",
            name=net,
            want=e.format,
            file=os.path.basename(path),
            got=fmt,
        )
    arch, spec = zoo.arch(net), zoo.spec_for(net)
    if arch.check_layers is not None and isinstance(tensors, CaffeTensors):
        arch.check_layers(tensors.layers, spec)  # the file's kernels/strides/pads vs the architecture
    if prototxt is not None:
        if arch.check_prototxt is None:
            raise SettingError("{prototxt} is for Caffe networks; {name} is not one", name=net)
        arch.check_prototxt(prototxt, spec)
    params = arch.params_from(tensors, _param_shapes(net))
    del tensors
    box.clear()
    _refuse_non_finite(params, path)
    kind, published = e.checksum
    hash_name = {"sha256_prefix": "sha256", "none": "sha256"}.get(kind, kind)
    digests = file_digests(path, hash_name)
    spec["provenance"] = {
        "source_url": e.url,
        "source_file": os.path.basename(path),
        "source_sha256": digests["sha256"],
        "published_checksum": f"{kind}:{published}",
        "matches_published": digests[hash_name].startswith(published) if published else None,
        "license": e.license,
        "converter_version": CONVERTER_VERSION,
    }
    net = Net(spec, params)
    net.dream_defaults = dict(e.dream_defaults)  # written into the .h5 by save_net
    return net


def _refuse_non_finite(params, path):
    """NaN or inf in one weight turns every dream into NaN: refuse now, naming the tensor, rather than write
    an .h5 that `dream` would refuse later. Checked after params_from, so a fold that goes wrong (BatchNorm
    with a negative running variance) is caught too."""
    for layer, arrays in params.items():
        for key, a in arrays.items():
            bad = a.size - int(np.count_nonzero(np.isfinite(a)))
            if bad:
                raise UserError(
                    f"{os.path.basename(path)}: {layer} {key} holds {bad} NaN or infinite number(s) "
                    "(a damaged file, or a training run that diverged); refusing to convert it"
                )


def convert_onnx(path, name=None, prototxt=None, quiet=False):
    """A Net from an ONNX model: architecture from its graph, weights from its initializers. `name` names the
    net; a zoo name also gives its preprocessing (else torchvision's, which the ONNX zoo's VGG and ResNet
    use). What had to be dropped is said in one note line."""
    from ..image_io import note  # the one-line remark on stderr

    if prototxt is not None:
        raise SettingError(
            "{prototxt} is for Caffe networks; {file} is an ONNX model", file=os.path.basename(path)
        )
    image = zoo.spec_for(name)["input"] if name in zoo.ZOO and zoo.entry(name).arch else None
    spec, params, notes = onnx_net(path, name, image)
    for line in notes if not quiet else ():
        note(line)
    _refuse_non_finite(params, path)
    spec["provenance"] = {
        "source_file": os.path.basename(path),
        "source_sha256": file_digests(path)["sha256"],
        "published_checksum": "",
        "matches_published": None,  # no publisher's checksum is known for a file the user brings
        "converter_version": CONVERTER_VERSION,
        "dropped": notes,
    }
    return Net(spec, params)
