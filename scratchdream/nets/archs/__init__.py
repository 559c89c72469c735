"""Architectures as data: one module per family, each holding one `Arch` record per network.

An Arch gathers the functions that know a network: its builder returns the plain-data spec of
`nets/graph.py` (layers with kind, inputs and hyper-parameters, the input preprocessing, aliases,
suggested dream layers); its converter takes the tensors of the publisher's file (name -> NumPy array,
as the readers return them) and returns our parameters {layer: {"weight": .., "bias": ..}} in our
layouts (OIHW, linear (out, in)), checking each name and shape on the way. The zoo (nets/zoo.py) pairs
each record with the publisher's URL and checksum. The small constructors below keep the builders short
and read like the publishers' code.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import UserError, WordedError
from ..spec import INPUT


@dataclass(frozen=True)
class Arch:
    """One network's architecture and how a publisher's file maps onto it.

    spec()                            -> the spec (plain data, no weights)
    params_from(tensors, net_shapes)  -> our parameters from the file's {key: array}, every shape checked
    file_keys(net_shapes)             -> the keys a file of this network holds, when they are fixed names
    fits(tensors, net_shapes)         -> True if the file is this network; for files whose keys are not
                                         fixed names (Keras numbers its layers as it creates them)
    check_layers(layers, spec)        Caffe only: the file's stored layer settings against the spec
    check_prototxt(path, spec)        Caffe only: a deploy.prototxt against the spec
    net_shapes is Net(spec).param_shapes: {layer: {"weight": shape, "bias": shape}}.
    """

    spec: Callable[[], dict]
    params_from: Callable[[dict, dict], dict]
    file_keys: Callable[[dict], set] | None = None
    fits: Callable[[dict, dict], bool] | None = None
    check_layers: Callable[[list, dict], int] | None = None
    check_prototxt: Callable[[str, dict], int] | None = None


# ---- the spec and its input record ------------------------------------------------------------------
def net_spec(name, image, layers, aliases, dream_layers):
    """The spec graph.py reads; `image` is its input record. No publisher's file names the classes."""
    return {
        "name": name,
        "input": image,
        "layers": layers,
        "aliases": aliases,
        "labels": None,
        "dream_layers": dream_layers,
    }


def image_input(order, scale, mean, std=(1.0, 1.0, 1.0), size=224):
    """The input record: channels in `order` ("RGB" or "BGR"), x = (pixel · scale/255 - mean) / std."""
    return {
        "name": INPUT,
        "order": order,
        "scale": scale,
        "mean": list(mean),
        "std": list(std),
        "size": [size, size],
    }


TV_MEAN, TV_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's ImageNet statistics


def tv_input(size=224):
    """torchvision's preset: RGB scaled to 0..1, minus the ImageNet mean, over its std."""
    return image_input("RGB", 1.0, TV_MEAN, TV_STD, size)


# ---- layer constructors (one dict each, as graph.py reads them) -----------------------------------
def conv(name, inp, out, k, s=1, p=0, relu=False, bias=True, groups=1):
    """k and p are an int or (h, w); p may also be (top, bottom, left, right)."""
    return {
        "name": name,
        "kind": "conv",
        "inputs": [inp],
        "hp": {
            "out": out,
            "kernel": _two(k),
            "stride": _two(s),
            "pad": _four(p),
            "dilation": [1, 1],
            "groups": groups,
            "bias": bias,
            "relu": relu,
        },
    }


def relu(name, inp):
    return {"name": name, "kind": "relu", "inputs": [inp], "hp": {}}


def leaky_relu(name, inp, alpha=0.01):
    return {"name": name, "kind": "leaky_relu", "inputs": [inp], "hp": {"alpha": float(alpha)}}


def clip(name, inp, lo, hi):
    return {"name": name, "kind": "clip", "inputs": [inp], "hp": {"min": float(lo), "max": float(hi)}}


def maxpool(name, inp, k, s, p=0, ceil=False):
    return {
        "name": name,
        "kind": "maxpool",
        "inputs": [inp],
        "hp": {"kernel": _two(k), "stride": _two(s), "pad": _four(p), "ceil": ceil},
    }


def avgpool(name, inp, k, s, p=0, ceil=False, count_pad=True):
    return {
        "name": name,
        "kind": "avgpool",
        "inputs": [inp],
        "hp": {"kernel": _two(k), "stride": _two(s), "pad": _four(p), "ceil": ceil, "count_pad": count_pad},
    }


def adaptive_avgpool(name, inp, size):
    return {"name": name, "kind": "adaptive_avgpool", "inputs": [inp], "hp": {"size": _two(size)}}


def lrn(name, inp, size, alpha, beta, k=1.0):
    return {
        "name": name,
        "kind": "lrn",
        "inputs": [inp],
        "hp": {"size": size, "alpha": alpha, "beta": beta, "k": k},
    }


def concat(name, inputs):
    return {"name": name, "kind": "concat", "inputs": list(inputs), "hp": {}}


def flatten(name, inp):
    return {"name": name, "kind": "flatten", "inputs": [inp], "hp": {}}


def linear(name, inp, out, bias=True):
    return {"name": name, "kind": "linear", "inputs": [inp], "hp": {"out": out, "bias": bias}}


def softmax(name, inp):
    return {"name": name, "kind": "softmax", "inputs": [inp], "hp": {}}


def _two(v):
    return [int(v), int(v)] if np.isscalar(v) else [int(a) for a in v]


def _four(p):
    if np.isscalar(p):
        return [int(p)] * 4
    p = [int(a) for a in p]
    return [p[0], p[0], p[1], p[1]] if len(p) == 2 else p


# ---- checked copying from a publisher's file ---------------------------------------------------
def take(tensors, key, shape, layer):
    """tensors[key] as float32 of exactly `shape`; a one-line error naming layer and both shapes otherwise.

    Leading 1s are dropped first: Caffe's legacy blobs are 4-D and right-aligned (a bias is (1, 1, 1, K)).
    """
    if key not in tensors:
        raise WordedError(
            "{layer}: the file has no {key}; is it really this network? (use {net} to choose another)",
            layer=layer,
            key=repr(key),
        )
    arr = np.asarray(tensors[key])
    got = tuple(arr.shape)
    while arr.ndim > len(shape) and arr.shape[0] == 1:
        arr = arr[0]
    if tuple(arr.shape) != tuple(shape):
        raise UserError(
            f"{layer}: the file has {key} of shape {got}, this network expects {tuple(shape)}; "
            "the file is for another architecture (use --net to choose another)"
        )
    if arr.dtype.kind != "f":
        raise UserError(
            f"{layer}: the file's {key} holds {arr.dtype} values, a weight must be floating point"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def keys_of(net_shapes, key_of):
    """The set of source keys a file must hold: key_of(layer, what) for every parameter of the net."""
    return {key_of(layer, what) for layer, shapes in net_shapes.items() for what in shapes}


def copy_by_name(tensors, net_shapes, key_of):
    """Our params for every layer with parameters; key_of(layer, "weight"|"bias") -> the file's key."""
    params = {}
    for layer, shapes in net_shapes.items():
        for what, shape in shapes.items():
            params.setdefault(layer, {})[what] = take(tensors, key_of(layer, what), shape, layer)
    return params


def tv_source_key(layer, what):
    """A torchvision state-dict key: our layer names for those nets are torchvision's module paths."""
    return f"{layer}.{what}"


def tv_file_keys(net_shapes):
    return keys_of(net_shapes, tv_source_key)


def tv_params_from(tensors, net_shapes):
    return copy_by_name(tensors, net_shapes, tv_source_key)


def torchvision_arch(spec):
    """The Arch of a torchvision net: our layer names are its module paths, so its state-dict keys are
    "<layer>.weight" and "<layer>.bias", copied one to one."""
    return Arch(spec, params_from=tv_params_from, file_keys=tv_file_keys)
