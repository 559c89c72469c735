"""ONNX import (nets/readers/onnx.py, nets/onnx_graph.py) against torch: nets exported by torch.onnx.export
(the legacy exporter), converted, saved and loaded as our HDF5; every layer's activation against the torch
module it came from (float32, rel error < 1e-4) and the input gradient of a channel objective (float64,
< 1e-8). Graphs written by hand (NHWC, float16, typed fields) are in test_onnx_encoded.py.
"""

import copy

import numpy as np
import pytest
from gradcheck import assert_close
from onnx_nets import (
    ActivationsLike,
    GoogLeNetLike,
    ResNetLike,
    VGGLike,
    build,
    export,
    module_output,
    module_path,
    smooth_input,
)
from torch_nets import channel_da, head

import scratchdream as sd
from scratchdream.nets.convert import convert_file

# name: (class, H, W, every-layer map for BatchNorm folded into its conv, [(layer, channel)] for gradients)
RESNET_FOLDS = {"conv1": "bn1", "conv2": "bn2", "down.0": "down.1", "stem.0": "stem.1"}
CASES = {
    "vgg": (VGGLike, 32, 32, {}, [("features.9", 5), ("classifier.3", 2)]),
    "googlenet": (GoogLeNetLike, 32, 32, {}, [("inc3b", 30), ("norm2", 3), ("fc", 7)]),
    "resnet": (ResNetLike, 24, 20, RESNET_FOLDS, [("block2.add", 9), ("post", 4)]),
    "leaky_relu6": (ActivationsLike, 16, 16, {}, [("leaky", 3), ("relu6", 5), ("fc", 2)]),
}


def convert_and_reload(path, tmp_path):
    net = convert_file(path)
    h5 = str(tmp_path / "net.h5")
    sd.save_net(net, h5)
    return sd.load_net(h5)


def torch_path(name, folds):
    """The module whose output our layer holds: a conv with BatchNorm folded in holds the BatchNorm's."""
    path = module_path(name)
    if path is None:
        return None
    for conv, bn in folds.items():
        if path == conv or path.endswith("." + conv):
            return path[: len(path) - len(conv)] + bn
    return path


def check_every_layer(net, model, x, folds):
    """Each of our layers against the torch module it came from; {layer: rel error}."""
    from onnx_nets import torch_acts

    ours, theirs = net.forward(x, upto=net.layer_names, keep=False), torch_acts(model, x)
    errors = {}
    for layer in net.spec["layers"]:
        path = torch_path(layer["name"], folds)
        if path is None:  # x.view(N, -1): no module; the linear after it sees its value
            assert layer["kind"] == "flatten", layer["name"]
            continue
        errors[layer["name"]] = assert_close(layer["name"], ours[layer["name"]], theirs[path].numpy(), 1e-4)
    return errors


def input_gradient(net, model, x, layer, channel, folds):
    """float64: dL/dx of L = mean(h[:, channel]^2) at `layer`, ours and torch's. A channel that is zero
    everywhere (a dead ReLU, likely deep in a net of random weights) would compare zeros with zeros: it is
    refused, so that the comparison is never empty."""
    name = net.resolve(layer)
    ours = head(net, name)
    a = ours.forward(x, upto=name)
    mine = ours.backward(channel_da(a, channel))
    xt, at = module_output(model, x, torch_path(name, folds))
    (at[:, channel] ** 2).mean().backward()
    assert np.abs(xt.grad).max() > 0, f"{layer} channel {channel} is dead here: choose another"
    return mine, xt.grad.numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_exported_net_matches_torch_at_every_layer(torch, tmp_path, case):
    cls, H, W, folds, _ = CASES[case]
    model = build(cls, seed=3)
    net = convert_and_reload(export(model, tmp_path / f"{case}.onnx", H, W), tmp_path)
    errors = check_every_layer(net, model, smooth_input(H, W, 1), folds)
    assert len(errors) >= len(net.layer_names) - 1  # all but a view(N, -1) compared


def exactly_foldable(model):
    """BatchNorm statistics whose fold is exact in float32 (γ a power of two, mean 0, var 1, ε 0), so the
    float64 gradient compares the chain rule itself, not the rounding of folded weights."""
    import torch.nn as nn

    g = np.random.default_rng(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 0.0
            m.weight.data[:] = m.weight.new_tensor(2.0 ** g.integers(-1, 2, m.num_features))
            m.running_mean.zero_(), m.running_var.fill_(1.0)
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_exported_net_input_gradient_matches_torch_float64(torch, tmp_path, case):
    cls, H, W, folds, targets = CASES[case]
    model = exactly_foldable(build(cls, seed=4))
    net = convert_and_reload(export(model, tmp_path / f"{case}.onnx", H, W), tmp_path)
    model64, x = copy.deepcopy(model).double(), smooth_input(H, W, 2, np.float64)
    for layer, channel in targets:
        mine, theirs = input_gradient(net, model64, x, layer, channel, folds)
        assert_close(f"{case} {layer} dL/dx", mine, theirs, 1e-8)


def test_batchnorm_nodes_kept_by_the_exporter_are_folded_or_kept(torch, tmp_path):
    """TrainingMode.PRESERVE keeps every BatchNormalization node: those after a conv fold into it, the one
    after the residual Add becomes a batchnorm layer; the result matches torch as the folded export does."""
    model = build(ResNetLike, seed=5)
    net = convert_and_reload(export(model, tmp_path / "r.onnx", 24, 20, preserve_bn=True), tmp_path)
    kinds = {layer["kind"] for layer in net.spec["layers"]}
    assert (
        "batchnorm" in kinds and sum(k == "batchnorm" for k in (ly["kind"] for ly in net.spec["layers"])) == 1
    )
    check_every_layer(net, model, smooth_input(24, 20, 1), RESNET_FOLDS)


def test_leaky_relu_and_relu6_become_their_layers(torch, tmp_path):
    net = convert_file(export(build(ActivationsLike, seed=1), tmp_path / "a.onnx", 16, 16))
    kinds = {layer["name"]: layer for layer in net.spec["layers"]}
    leaky, relu6 = kinds[net.resolve("leaky")], kinds[net.resolve("relu6")]
    assert leaky["kind"] == "leaky_relu" and leaky["hp"]["alpha"] == 0.2  # not float32's 0.20000000298
    assert relu6["kind"] == "clip" and relu6["hp"] == {"min": 0.0, "max": 6.0}


def test_aliases_are_the_torch_module_paths(torch, tmp_path):
    net = convert_file(export(build(GoogLeNetLike, seed=1), tmp_path / "g.onnx", 32, 32))
    assert net.resolve("inc3a.b2.1.0") == "inc3a/b2/b2.1/b2.1.0/Conv"
    assert net.resolve("norm1") == "norm1/LRN" and net.resolve("inc3b") == "inc3b/Concat"
    kinds = [layer["kind"] for layer in net.spec["layers"]]
    assert kinds.count("lrn") == 2 and kinds.count("concat") == 2 and "avgpool" in kinds
