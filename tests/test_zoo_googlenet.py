"""bvlc_googlenet end to end: a random-weight Caffe GoogLeNet written as the published file is (V1 `layers`,
legacy 4-D blob dims, the train net's extra layers), converted, saved and loaded through HDF5, then held
against a torch version of deploy.prototxt at every blob and for the input gradient of a channel objective."""

import numpy as np
import pytest
from fixtures_formats import write_caffemodel

import scratchdream as sd
from scratchdream import cli
from scratchdream.errors import UserError
from scratchdream.nets.convert import convert_file

H, W = 227, 251  # not multiples of the net's stride 32, non-square; still 7x7 at inception_5b, so the
# classifier (pool5 7x7 -> loss3/classifier -> prob) is exercised too


def test_googlenet_caffemodel_matches_torch_at_every_layer_and_gradient(torch, tmp_path, capsys):
    import torch_nets as tn

    weights = tn.caffe_googlenet_weights(seed=0)
    src = write_caffemodel(
        tmp_path / "bvlc_googlenet.caffemodel", tn.caffe_googlenet_layers(weights), form="v1", dims="legacy"
    )
    (tmp_path / "deploy.prototxt").write_text(tn.deploy_prototxt(tn.caffe_googlenet_layers(weights, False)))
    net = convert_file(src, prototxt=tmp_path / "deploy.prototxt")  # recognised from the file, no --net
    assert net.name == "googlenet"
    sd.save_net(net, tmp_path / "googlenet.h5")
    net = sd.load_net(tmp_path / "googlenet.h5")
    assert net.spec["provenance"]["source_file"] == "bvlc_googlenet.caffemodel"
    assert net.spec["provenance"]["matches_published"] is False  # a random test file, not the real one

    img = tn.smooth_image(H, W, seed=1)
    x = net.preprocess(img)
    # the notebook's preprocessing: RGB -> BGR, 0..255, minus the mean pixel (B, G, R) = (104, 116, 122)
    bgr = img[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, bgr - np.float32([104, 116, 122]).reshape(1, 3, 1, 1), rtol=0, atol=1e-4)

    with torch.no_grad():
        acts = tn.caffe_googlenet_forward(weights, torch.from_numpy(x))
    assert acts["inception_5b/output"].shape[-2:] == (7, 7) and "prob" in acts
    errors = tn.check_every_layer(net, x, acts)
    assert len(errors) == len(net.layer_names) == 85

    w64 = {n: (w.astype(np.float64), b.astype(np.float64)) for n, (w, b) in weights.items()}
    err64, err32 = tn.check_gradient(
        net,
        x,
        lambda t: tn.caffe_googlenet_forward(w64, t),
        lambda t: tn.caffe_googlenet_forward(weights, t),
        "inception_4c/output",
        97,
    )
    # on the converted file
    assert cli.main(["layers", str(tmp_path / "googlenet.h5"), "--size", f"{H}x{W}"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("inception_4c/output "))
    assert "x".join(map(str, acts["inception_4c/output"].shape[1:])) in row
    print(
        f"\ngooglenet: max layer rel error {max(errors.values()):.2e}; input gradient float64 {err64:.2e}, "
        f"float32 {err32:.2e}"
    )


def test_googlenet_shapes_at_224_are_deploy_prototxt(tmp_path):
    """Output sizes of the published table (docs/zoo.md, bvlc_googlenet, computed with Caffe's ceil rule)."""
    from scratchdream.nets.graph import Net
    from scratchdream.nets.zoo import spec_for

    s = Net(spec_for("googlenet")).shapes(224, 224)
    assert s["conv1/7x7_s2"] == (64, 112, 112) and s["pool1/3x3_s2"] == (64, 56, 56)
    assert s["pool2/3x3_s2"] == (192, 28, 28)
    assert [
        s[f"inception_{m}/output"][0] for m in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    ] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert s["inception_4c/output"] == (512, 14, 14) and s["inception_5b/output"] == (1024, 7, 7)
    assert s["prob"] == (1000,)


def test_a_caffemodel_without_stored_layer_settings_still_converts(torch, tmp_path):
    """Settings are compared only where the file has them (an absent field inside a present message
    takes Caffe's default, e.g. stride 1)."""
    from torch_nets import caffe_googlenet_layers, caffe_googlenet_weights

    layers = caffe_googlenet_layers(caffe_googlenet_weights(seed=0))
    for ly in layers:
        ly.pop("params", None)
    net = convert_file(write_caffemodel(tmp_path / "bvlc_googlenet.caffemodel", layers))
    assert net.name == "googlenet"


@pytest.mark.parametrize(
    "override, what",
    [
        ({"stride": 1}, "stride [1, 1]"),
        ({"pad": 0}, "pad [0, 0, 0, 0]"),
        ({"kernel_size": 5}, "kernel [5, 5]"),
    ],
)
def test_a_caffemodel_whose_layer_parameters_differ_is_refused(torch, tmp_path, override, what):
    """Same names, same blob shapes, other geometry: the file's stored layer parameters give it away."""
    import numpy as np
    from torch_nets import caffe_googlenet_layers, caffe_googlenet_weights

    weights = caffe_googlenet_weights(seed=0, classifier=False)
    layers = caffe_googlenet_layers(weights, conv_overrides={"conv1/7x7_s2": override})
    layers.append(
        {
            "name": "loss3/classifier",
            "type": "InnerProduct",
            "blobs": [np.zeros((1000, 1024), np.float32), np.zeros(1000, np.float32)],
            "params": {"inner_product_param": {"num_output": 1000}},
        }
    )
    src = write_caffemodel(tmp_path / "other.caffemodel", layers)
    with pytest.raises(UserError) as e:
        convert_file(src)
    assert str(e.value).startswith(f"conv1/7x7_s2: the file's layer has {what}, this network has")


def test_the_architecture_is_checked_against_a_deploy_prototxt(torch, tmp_path):
    """`scratchdream convert X.caffemodel --prototxt deploy.prototxt`: same layers, inputs (concat order
    included) and parameters pass; any difference is named in one line."""
    from torch_nets import caffe_googlenet_layers, caffe_googlenet_weights, deploy_prototxt

    from scratchdream.nets.archs import googlenet
    from scratchdream.nets.zoo import spec_for

    layers = caffe_googlenet_layers(caffe_googlenet_weights(seed=0), with_training_layers=False)
    text = deploy_prototxt(layers)
    (tmp_path / "deploy.prototxt").write_text(text)
    # every layer but our flatten
    assert googlenet.check_prototxt(tmp_path / "deploy.prototxt", spec_for("googlenet")) == 84

    swapped = text.replace(
        'bottom: "inception_4c/3x3"\n  bottom: "inception_4c/5x5"',
        'bottom: "inception_4c/5x5"\n  bottom: "inception_4c/3x3"',
    )
    pad1 = text.replace(
        'name: "inception_3a/5x5"\n  type: "Convolution"\n  bottom: "inception_3a/5x5_reduce"\n'
        '  top: "inception_3a/5x5"\n  convolution_param { num_output: 32 pad: 2',
        'name: "inception_3a/5x5"\n  type: "Convolution"\n  bottom: "inception_3a/5x5_reduce"\n'
        '  top: "inception_3a/5x5"\n  convolution_param { num_output: 32 pad: 1',
    )
    no_lrn = text.replace('type: "LRN"', 'type: "BatchNorm"')
    no_prob = text[: text.index('layer {\n  name: "prob"')]
    for bad, start in (
        (swapped, "inception_4c/output: the file's layer has inputs"),
        (pad1, "inception_3a/5x5: the file's layer has pad [1, 1, 1, 1]"),
        (no_lrn, "pool1/norm1: the file's layer has type BatchNorm, this network has lrn"),
        (no_prob, "deploy.prototxt has no layer 'prob'"),
    ):
        assert bad != text
        (tmp_path / "deploy.prototxt").write_text(bad)
        with pytest.raises(UserError) as e:
            googlenet.check_prototxt(tmp_path / "deploy.prototxt", spec_for("googlenet"))
        assert str(e.value).replace(str(tmp_path) + "/", "").startswith(start), str(e.value)
