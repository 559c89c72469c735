"""AlexNet and SqueezeNet 1.1 end to end against plain torch.nn copies with random weights, saved as
torchvision's current files are (zip torch.save, torchvision key names), on non-square images whose sizes
are not multiples of the nets' strides."""


def test_alexnet_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    model = tn.randomise(tn.AlexNet(), seed=4)
    net, errors, err64, err32 = tn.torchvision_roundtrip(
        model,
        tmp_path / "alexnet-owt-7be5be79.pth",
        legacy=False,
        H=131,
        W=157,
        layer="relu5",
        channel=3,
        name="alexnet",
    )
    assert len(errors) == len(net.layer_names) == 20
    print(
        f"\nalexnet: max layer rel error {max(errors.values()):.2e}; input gradient float64 {err64:.2e}, "
        f"float32 {err32:.2e}"
    )


def test_squeezenet_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    model = tn.randomise(tn.SqueezeNet11(), seed=5)
    # 101 x 139: ceil-mode pools meet odd sizes at every stage
    net, errors, err64, err32 = tn.torchvision_roundtrip(
        model,
        tmp_path / "squeezenet1_1-b8a52dc0.pth",
        legacy=False,
        H=101,
        W=139,
        layer="fire7",
        channel=20,
        name="squeezenet1_1",
    )
    assert len(errors) == len(net.layer_names) == 65
    print(
        f"\nsqueezenet1_1: max layer rel error {max(errors.values()):.2e}; "
        f"input gradient float64 {err64:.2e}, float32 {err32:.2e}"
    )
