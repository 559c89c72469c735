"""VGG16 and VGG19 end to end against a plain torch.nn VGG with random weights, saved as the published files
are (legacy, pre-1.6 stream format, torchvision's key names), at the real layer sizes (the classifier's
25088x4096 matrix included, once per net), on a 67x93 image (not a multiple of the stride 32)."""

import pytest

H, W = 67, 93


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_matches_torch_at_every_layer_and_gradient(torch, tmp_path, name):
    import torch_nets as tn

    model = tn.randomise(tn.VGG(name), seed=3)
    # vgg16: torch.save's legacy stream; vgg19: the same stream with the pre-1.0 tensor pickles that the
    # published VGG files have (FloatTensor + __setstate__, docs/zoo.md), written by tests/fixtures_formats.py
    legacy = {"vgg16": True, "vgg19": "oldstyle"}[name]
    net, errors, err64, err32 = tn.torchvision_roundtrip(
        model,
        tmp_path / f"{name}-0123abcd.pth",
        legacy=legacy,
        H=H,
        W=W,
        layer="relu4_3",
        channel=11,
        name=name,
    )
    assert len(errors) == len(net.layer_names) == {"vgg16": 38, "vgg19": 44}[name]
    conv4_3 = {"vgg16": 21, "vgg19": 23}[name]
    assert (
        net.resolve("conv4_3") == f"features.{conv4_3}"
        and net.resolve("relu4_3") == f"features.{conv4_3 + 1}"
    )
    print(
        f"\n{name}: max layer rel error {max(errors.values()):.2e}; input gradient float64 {err64:.2e}, "
        f"float32 {err32:.2e}"
    )


def test_vgg_aliases_follow_the_paper_names():
    """docs/zoo.md's VGG index map, from torchvision's configuration."""
    from scratchdream.nets.graph import Net
    from scratchdream.nets.zoo import spec_for

    v16, v19 = Net(spec_for("vgg16")), Net(spec_for("vgg19"))
    assert [
        v16.resolve(a)
        for a in ("conv1_1", "pool1", "conv3_3", "pool3", "conv4_3", "relu4_3", "conv5_3", "pool5")
    ] == [f"features.{i}" for i in (0, 4, 14, 16, 21, 22, 28, 30)]
    assert [v19.resolve(a) for a in ("conv3_4", "pool3", "conv4_4", "pool4", "conv5_4", "pool5")] == [
        f"features.{i}" for i in (16, 18, 25, 27, 34, 36)
    ]
    assert v16.shapes(224, 224)["features.30"] == (512, 7, 7)
