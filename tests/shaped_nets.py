"""Random-weight nets shaped like the zoo's, for the recipe and cost tests.

tiny_googlenet(seed)      a few Inception modules named as bvlc_googlenet names them (inception_3b/output,
                          inception_4c/output), BGR 0..255 minus the notebook's mean: small and fast
zoo_shaped(name, upto)    a zoo architecture (nets/archs/) cut after the layer `upto`, random weights
"""

import copy

from nets_for_tests import random_params

from scratchdream.nets import zoo
from scratchdream.nets.archs.googlenet import MEAN_BGR
from scratchdream.nets.graph import Net


def _conv(name, inp, out, k, pad=0, stride=1):
    hp = {"out": out, "kernel": [k, k], "stride": [stride, stride], "pad": [pad] * 4, "relu": True}
    return {"name": name, "kind": "conv", "inputs": [inp], "hp": hp}


def _pool(name, inp, k, stride, pad=0):
    hp = {"kernel": [k, k], "stride": [stride, stride], "pad": [pad] * 4, "ceil": True}
    return {"name": name, "kind": "maxpool", "inputs": [inp], "hp": hp}


def _inception(name, inp, width):
    return [
        _conv(f"{name}/1x1", inp, width, 1),
        _conv(f"{name}/3x3_reduce", inp, width, 1),
        _conv(f"{name}/3x3", f"{name}/3x3_reduce", width, 3, pad=1),
        _pool(f"{name}/pool", inp, 3, 1, pad=1),
        _conv(f"{name}/pool_proj", f"{name}/pool", width, 1),
        {
            "name": f"{name}/output",
            "kind": "concat",
            "inputs": [f"{name}/1x1", f"{name}/3x3", f"{name}/pool_proj"],
            "hp": {},
        },
    ]


def tiny_googlenet(seed=0, width=8):
    layers = [
        _conv("conv1/7x7_s2", "data", width, 7, pad=3, stride=2),
        _pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2),
        *_inception("inception_3a", "pool1/3x3_s2", width),
        *_inception("inception_3b", "inception_3a/output", width),
        _pool("pool3/3x3_s2", "inception_3b/output", 3, 2),
        *_inception("inception_4a", "pool3/3x3_s2", width),
        *_inception("inception_4c", "inception_4a/output", width),
    ]
    spec = {
        "name": "tiny_googlenet",
        "input": {"name": "data", "order": "BGR", "scale": 255.0, "mean": MEAN_BGR, "std": [1.0] * 3},
        "layers": layers,
        "dream_layers": ["inception_4c/output"],
    }
    spec["input"]["size"] = [64, 64]
    net = Net(spec)
    net.set_params(random_params(net, seed))
    return net


def zoo_shaped(name, upto, seed=0):
    """The zoo net `name` up to its layer `upto` (aliases allowed), with random weights."""
    spec = copy.deepcopy(zoo.spec_for(name))
    full = Net(spec)
    keep = {layer["name"] for layer in full._ancestors([full.resolve(upto)])}
    spec["layers"] = [layer for layer in spec["layers"] if layer["name"] in keep]
    spec["aliases"] = {a: t for a, t in (spec.get("aliases") or {}).items() if t in keep}
    spec["dream_layers"] = [full.resolve(upto)]
    spec.pop("labels", None)  # the classifier they name is cut off
    net = Net(spec)
    net.set_params(random_params(net, seed))
    return net
