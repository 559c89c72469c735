"""torchvision GoogLeNet end to end: BatchNorm (random running statistics) folded into the convolutions at
conversion, transform_input folded into the preprocessing, the untrained aux heads and num_batches_tracked
in the file and ignored. Saved with the legacy torch.save format, as the published file (2019) is."""


def test_tv_googlenet_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    model = tn.randomise(tn.TVGoogLeNet(), seed=6)
    assert any(k.startswith("aux1.") for k in model.state_dict())
    assert any(k.endswith("num_batches_tracked") for k in model.state_dict())
    net, errors, err64, err32 = tn.torchvision_roundtrip(
        model,
        tmp_path / "googlenet-1378be20.pth",
        legacy=True,
        H=117,
        W=143,
        layer="inception4c",
        channel=40,
        name="tv_googlenet",
    )
    assert len(errors) == len(net.layer_names) == 82
    assert not any(k.startswith("aux") for k in net.params)
    assert net.spec["input"]["mean"] == [0.5, 0.5, 0.5] and net.spec["input"]["std"] == [0.5, 0.5, 0.5]
    print(
        f"\ntv_googlenet: max layer rel error {max(errors.values()):.2e}; "
        f"input gradient float64 {err64:.2e}, float32 {err32:.2e}"
    )
