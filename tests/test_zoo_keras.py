"""Keras Applications VGG16 and InceptionV3 end to end: random weights written in the legacy Keras .h5 layout
(HWIO kernels, Dense (in, out), layer_names / weight_names attributes), converted, saved and loaded through
our HDF5, held against a torch replay of the Keras code at every layer and for the input gradient."""

import numpy as np
from fixtures_formats import write_keras_h5

import scratchdream as sd
from scratchdream.nets.convert import convert_file


def _roundtrip(path, layers, name):
    write_keras_h5(path, layers, split_names_at=50)
    net = convert_file(path)
    assert net.name == name
    sd.save_net(net, str(path) + ".out.h5")
    return sd.load_net(str(path) + ".out.h5")


def test_keras_vgg16_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    weights = tn.keras_vgg16_weights(seed=9)
    net = _roundtrip(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5", weights, "keras_vgg16")
    img = tn.smooth_image(224, 224, seed=2)  # Keras' Flatten fixes the size of a net with its top
    x = net.preprocess(img)
    bgr = img[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]  # Keras "caffe" mode
    np.testing.assert_allclose(x, bgr - np.float32([103.939, 116.779, 123.68]).reshape(1, 3, 1, 1), atol=1e-4)
    with torch.no_grad():
        acts = tn.keras_vgg16_forward(weights, torch.from_numpy(x))
    errors = tn.check_every_layer(net, x, acts)
    assert len(errors) == len(net.layer_names) == 25
    forward = lambda t: tn.keras_vgg16_forward(weights, t)  # noqa: E731
    err64, err32 = tn.check_gradient(net, x, forward, forward, "block4_conv3", 5)
    print(
        f"\nkeras_vgg16: max layer rel error {max(errors.values()):.2e}; input gradient float64 {err64:.2e}, "
        f"float32 {err32:.2e}"
    )


def test_keras_inception_v3_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    oracle = tn.KerasInceptionV3(seed=10)
    img = tn.smooth_image(107, 131, seed=3)  # odd sizes; 75 is InceptionV3's minimum
    x_probe = torch.from_numpy((img.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        oracle(x_probe)  # creates the weights, in Keras' creation order
    layers = list(oracle.weights.items())
    layers = dict(layers[len(layers) // 2 :] + layers[: len(layers) // 2])  # file order is not creation order
    net = _roundtrip(
        tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", layers, "keras_inception_v3"
    )
    x = net.preprocess(img)
    np.testing.assert_allclose(x, x_probe.numpy(), atol=1e-6)  # Keras "tf" mode: x / 127.5 - 1
    with torch.no_grad():
        acts = oracle(torch.from_numpy(x))
    errors = tn.check_every_layer(net, x, acts)
    assert len(errors) == len(net.layer_names) == 126
    err64, err32 = tn.check_gradient(net, x, oracle, oracle, "mixed5", 100, tol64=1e-5)  # BN folded
    print(
        f"\nkeras_inception_v3: max layer rel error {max(errors.values()):.2e}; "
        f"input gradient float64 {err64:.2e}, float32 {err32:.2e}"
    )


def test_keras_notop_files_convert_and_match_torch(torch, tmp_path):
    """The include_top=False files (Keras' deep-dream example): the same layers without the classifier, an
    input layer's empty group first; recognised as the notop nets, every layer against the torch replay."""
    import torch_nets as tn

    vgg = tn.keras_vgg16_weights(seed=11)
    notop = {"input_1": [], **{k: v for k, v in vgg.items() if k.startswith("block")}}
    net = _roundtrip(
        tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", notop, "keras_vgg16_notop"
    )
    assert net.layer_names[-1] == "block5_pool" and net.labels is None
    img = tn.smooth_image(67, 93, seed=4)  # no Flatten: any size
    x = net.preprocess(img)
    with torch.no_grad():
        acts = _vgg16_features(vgg, torch.from_numpy(x))
    assert len(tn.check_every_layer(net, x, acts)) == len(net.layer_names) == 18

    oracle = tn.KerasInceptionV3(seed=12)
    img = tn.smooth_image(99, 101, seed=5)
    x_probe = torch.from_numpy((img.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        acts = oracle(x_probe)
    layers = {k: v for k, v in oracle.weights.items() if k != "predictions"}
    net = _roundtrip(
        tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        layers,
        "keras_inception_v3_notop",
    )
    assert net.layer_names[-1] == "mixed10" and len(net.layer_names) == 122
    assert len(tn.check_every_layer(net, net.preprocess(img), acts)) == 122
    with_top = convert_file(_with_top_copy(tmp_path, oracle))  # a with-top file is still the other net
    assert with_top.name == "keras_inception_v3"


def _vgg16_features(weights, x):
    import torch.nn.functional as F
    import torch_nets as tn

    acts = {}
    for b, n in enumerate([2, 2, 3, 3, 3], 1):
        for i in range(1, n + 1):
            (_, k), (_, bias) = weights[f"block{b}_conv{i}"]
            x = acts[f"block{b}_conv{i}"] = F.relu(
                F.conv2d(x, tn._t(k, x).permute(3, 2, 0, 1), tn._t(bias, x), padding=1)
            )
        x = acts[f"block{b}_pool"] = F.max_pool2d(x, 2, 2)
    return acts


def _with_top_copy(tmp_path, oracle):
    path = tmp_path / "inception_renamed.h5"
    write_keras_h5(path, dict(oracle.weights))
    return path
