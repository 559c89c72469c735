"""ResNet-18 / ResNet-50 end to end against a plain torch.nn ResNet with random weights and random BatchNorm
statistics (folded into the convolutions at conversion), saved as torchvision's files are (zip), then the
Places365 authors' checkpoints: {'epoch', 'arch', 'state_dict', 'best_prec1'} pickled by Python 2 and
PyTorch 0.2 (old-style tensors, byte-string keys) with DataParallel's `module.` in every key."""

import numpy as np
import pytest

H, W = 75, 98  # not a multiple of ResNet's stride 32


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_matches_torch_at_every_layer_and_gradient(torch, tmp_path, depth):
    import torch_nets as tn
    from torch_resnet import ResNet

    model = tn.randomise(ResNet(depth), seed=depth)
    name = f"resnet{depth}"
    net, errors, err64, err32 = tn.torchvision_roundtrip(
        model,
        tmp_path / f"{name}-0123abcd.pth",
        legacy=False,
        H=H,
        W=W,
        layer="layer3",
        channel=7,
        name=name,
        folded=True,
    )
    blocks = {18: 8, 50: 16}[depth]
    downsamples = 3 if depth == 18 else 4
    per_block = 5 if depth == 18 else 7
    assert len(errors) == len(net.layer_names) == 3 + blocks * per_block + downsamples + 3
    assert net.resolve("layer3") == ("layer3.1" if depth == 18 else "layer3.5")
    print(
        f"\n{name}: max layer rel error {max(errors.values()):.2e}; "
        f"gradient float64 {err64:.2e}, float32 {err32:.2e}"
    )


def places_checkpoint(path, model, wrap):
    """The Places365 authors' file: Python 2 pickle of {'epoch', 'arch', 'state_dict', 'best_prec1'},
    tensors old-style, each key with DataParallel's `module.` where `wrap(key)` puts it."""
    from fixtures_formats import legacy_oldstyle_pth

    tensors = {
        wrap(k): v.numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    extras = {"epoch": 90, "arch": "resnet18", "best_prec1": 54.74}
    return legacy_oldstyle_pth(path, tensors, checkpoint=extras)


@pytest.mark.parametrize("which", ["resnet18_places365", "alexnet_places365"])
def test_places365_checkpoint_converts_and_matches_torch(torch, tmp_path, which):
    import torch_nets as tn
    from torch_resnet import ResNet

    import scratchdream as sd
    from scratchdream.nets.convert import convert_file

    if which == "resnet18_places365":
        model, wrap = tn.randomise(ResNet(18, classes=365), seed=5), lambda k: "module." + k
    else:
        model = tn.randomise(tn.AlexNet(), seed=5)
        model.classifier[6] = torch.nn.Linear(4096, 365)
        tn.randomise(model, seed=5)
        wrap = lambda k: k.replace("features.", "features.module.")  # noqa: E731  (only features was wrapped)
    path = places_checkpoint(tmp_path / f"{which}.pth.tar", model, wrap)
    net = convert_file(path)
    assert net.name == which
    assert net.spec["provenance"]["matches_published"] is None  # no checksum published
    sd.save_net(net, tmp_path / "p.h5")
    net = sd.load_net(str(tmp_path / "p.h5"))
    assert len(net.labels) == 365 and net.labels[0] == "airfield"
    img = tn.smooth_image(H * 2, W * 2, 3)
    with torch.no_grad():
        acts = model(torch.from_numpy(tn.tv_normalise(img)))
    errors = tn.check_every_layer(net, net.preprocess(img), acts)
    assert len(errors) == len(net.layer_names)


def test_checkpoint_with_a_tensor_beside_the_state_dict_takes_the_state_dict(tmp_path, torch):
    """A newer training script's best_prec1 is a 0-d tensor: the wrapper's state_dict is the one read."""
    from scratchdream.nets.readers.pth import load_state_dict

    sd_ = {"a.weight": torch.ones(2, 3), "a.bias": torch.zeros(2)}
    torch.save({"epoch": 3, "state_dict": sd_, "best_prec1": torch.tensor(51.5)}, tmp_path / "c.pth.tar")
    state = load_state_dict(tmp_path / "c.pth.tar")
    assert set(state) == {"a.weight", "a.bias"}
    np.testing.assert_array_equal(state["a.weight"], np.ones((2, 3), np.float32))


def test_places365_fetch_says_how_to_get_the_file(tmp_path):
    from scratchdream.errors import UserError
    from scratchdream.fetch import ensure_weights

    with pytest.raises(UserError, match="gives no checksum.*scratchdream convert resnet50_places365.pth.tar"):
        ensure_weights("resnet50_places365", weights_dir=str(tmp_path))
    from scratchdream.nets import zoo

    net, header = zoo.open_for_listing("alexnet_places365", weights_dir=str(tmp_path))
    assert "download http://places2.csail.mit.edu/models_places365/alexnet_places365.pth.tar" in header
    assert net.labels[-1] == "zen_garden"
