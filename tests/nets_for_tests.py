"""Small random-weight networks for tests: every layer kind in a few microseconds of compute.

    tiny_inception_net(seed)   Caffe-style: conv(+fused relu) -> maxpool (ceil) -> LRN -> conv -> relu
                               -> an Inception module (1x1 | 1x1->3x3 | maxpool->1x1, concat)
                               -> maxpool -> conv
    tiny_classifier(seed)      torchvision-style: conv(+relu) -> batchnorm -> relu -> maxpool -> conv(+relu)
                               -> adaptive avg pool 2x2 -> flatten -> linear -> relu -> linear -> softmax
Weights are He-scaled normal draws from np.random.default_rng(seed); biases are small random values so
ReLU kinks fall at random places. Other test modules import these (`from nets_for_tests import ...`).
"""

import copy

import numpy as np

from scratchdream.nets.graph import Net


def _conv(name, inputs, out, k, pad=0, stride=1, relu=False):
    return {
        "name": name,
        "kind": "conv",
        "inputs": inputs,
        "hp": {"out": out, "kernel": [k, k], "stride": [stride, stride], "pad": [pad] * 4, "relu": relu},
    }


def _maxpool(name, inputs, k, stride, pad=0, ceil=True):
    return {
        "name": name,
        "kind": "maxpool",
        "inputs": inputs,
        "hp": {"kernel": [k, k], "stride": [stride, stride], "pad": [pad] * 4, "ceil": ceil},
    }


TINY_INCEPTION = {
    "name": "tiny_inception",
    "input": {
        "name": "data",
        "order": "BGR",
        "scale": 255.0,
        "mean": [104.0, 117.0, 123.0],
        "std": [1.0, 1.0, 1.0],
        "size": [15, 15],
    },
    "layers": [
        _conv("conv1", ["data"], 8, 3, pad=1, relu=True),
        _maxpool("pool1", ["conv1"], 3, 2),  # ceil mode: 15 -> 7
        {
            "name": "norm1",
            "kind": "lrn",
            "inputs": ["pool1"],
            "hp": {"size": 5, "alpha": 0.5, "beta": 0.75, "k": 1.0},
        },
        _conv("conv2", ["norm1"], 8, 1),
        {"name": "conv2/relu", "kind": "relu", "inputs": ["conv2"], "hp": {}},
        _conv("inc/1x1", ["conv2/relu"], 4, 1, relu=True),
        _conv("inc/3x3_reduce", ["conv2/relu"], 4, 1, relu=True),
        _conv("inc/3x3", ["inc/3x3_reduce"], 6, 3, pad=1, relu=True),
        _maxpool("inc/pool", ["conv2/relu"], 3, 1, pad=1),
        _conv("inc/pool_proj", ["inc/pool"], 4, 1, relu=True),
        {"name": "inc/output", "kind": "concat", "inputs": ["inc/1x1", "inc/3x3", "inc/pool_proj"], "hp": {}},
        _maxpool("pool2", ["inc/output"], 3, 2),  # ceil mode: 7 -> 3
        _conv("conv3", ["pool2"], 6, 3, pad=1),
    ],
    "aliases": {"inception": "inc/output", "deep": "conv3"},
    "labels": None,
    "dream_layers": ["inc/output", "conv3"],
    "provenance": {"source_url": "random weights (tests/nets_for_tests.py)", "converter_version": "test"},
}

TINY_CLASSIFIER = {
    "name": "tiny_classifier",
    "input": {
        "name": "data",
        "order": "RGB",
        "scale": 1.0,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "size": [12, 12],
    },
    "layers": [
        _conv("conv1", ["data"], 6, 3, pad=1),
        {"name": "bn1", "kind": "batchnorm", "inputs": ["conv1"], "hp": {}},
        {"name": "relu1", "kind": "relu", "inputs": ["bn1"], "hp": {}},
        _maxpool("pool1", ["relu1"], 2, 2, ceil=False),  # 12 -> 6
        _conv("conv2", ["pool1"], 8, 3, pad=1, relu=True),
        {"name": "gap", "kind": "adaptive_avgpool", "inputs": ["conv2"], "hp": {"size": [2, 2]}},
        {"name": "flatten", "kind": "flatten", "inputs": ["gap"], "hp": {}},
        {"name": "fc1", "kind": "linear", "inputs": ["flatten"], "hp": {"out": 10}},
        {"name": "fc1/relu", "kind": "relu", "inputs": ["fc1"], "hp": {}},
        {"name": "fc2", "kind": "linear", "inputs": ["fc1/relu"], "hp": {"out": 4}},
        {"name": "prob", "kind": "softmax", "inputs": ["fc2"], "hp": {}},
    ],
    "aliases": {"logits": "fc2"},
    "labels": ["castle", "ship", "bird", "dog"],
    "dream_layers": ["conv2"],
    "provenance": {"source_url": "random weights (tests/nets_for_tests.py)", "converter_version": "test"},
}


def random_params(net, seed=0):
    """He-scaled random weights for every parameter of `net`; batchnorm scales near 1.

    Layers reading the image are scaled down by the input's range (a 0-255 Caffe input would otherwise
    give activations in the hundreds and an LRN deep in saturation)."""
    rng = np.random.default_rng(seed)
    lo, hi = net.input_range(np.float64)
    input_scale = float(max(np.abs(lo).max(), np.abs(hi).max()))
    params = {}
    for layer in net.layers:
        shapes = net.param_shapes[layer["name"]]
        if not shapes:
            continue
        w_shape = shapes["weight"]
        if layer["kind"] == "batchnorm":
            w = rng.uniform(0.5, 1.5, w_shape)
        else:
            w = rng.standard_normal(w_shape) * np.sqrt(2.0 / np.prod(w_shape[1:]))
            if "data" in layer["inputs"]:
                w /= input_scale
        params[layer["name"]] = {"weight": w.astype(np.float32)}
        if "bias" in shapes:
            params[layer["name"]]["bias"] = (0.1 * rng.standard_normal(shapes["bias"])).astype(np.float32)
    return params


def net_from_spec(spec, seed=0):
    net = Net(copy.deepcopy(spec))
    net.set_params(random_params(net, seed))
    return net


def tiny_inception_net(seed=0):
    """conv/relu/maxpool(ceil)/LRN/Inception concat; 15x15 BGR input, 0-255 scale minus a mean pixel."""
    return net_from_spec(TINY_INCEPTION, seed)


def tiny_classifier(seed=0):
    """conv/batchnorm/relu/maxpool/adaptive pool/flatten/linear/softmax; 12x12 RGB, ImageNet mean/std."""
    return net_from_spec(TINY_CLASSIFIER, seed)


def random_input(net, seed=0, dtype=np.float64, size=None):
    """A (1, 3, H, W) input in the net's input space (uniform over the valid pixel range)."""
    H, W = size or net.spec["input"]["size"]
    lo, hi = net.input_range(np.float64)
    u = np.random.default_rng(seed).uniform(size=(1, 3, H, W))
    return (lo + u * (hi - lo)).astype(dtype)
