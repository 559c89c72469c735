"""The benchmark: its torch twin computes the same dream step as scratchdream, and the command runs (tiny size).

No timing is asserted: speed is what `make bench` reports, not what a unit test can hold on a shared machine.
"""

import argparse

import numpy as np
import pytest
from gradcheck import assert_close

from scratchdream import bench
from scratchdream.errors import UsageError


@pytest.mark.parametrize("name", ["googlenet", "vgg16"])
def test_torch_twin_computes_the_same_dream_step(name, torch):
    """Same spec, same weights: h and dL/dx (L = ½‖h‖²) agree, so the bench compares like with like."""
    net, target = bench.build_sd(name)
    model = bench.build_torch(net, target, torch)
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 48)).astype(np.float32)
    h = net.forward(x, upto=target, keep=False)
    ht = model(torch.tensor(x))
    assert_close(f"{name} h", h, ht.detach().numpy(), 1e-4)
    # The gradient is compared in float64. In float32, random weights leave some activations within rounding
    # of a ReLU kink or a max-pool tie, where two correct implementations route the gradient differently
    # (seen once: 8e-4 on vgg16 in a fresh clone).
    x64 = x.astype(np.float64)
    dx = net.backward(net.forward(x64, upto=target))
    dxt = bench.torch_step(model.double(), torch.tensor(x64), torch).numpy()
    assert_close(f"{name} dL/dx", dx, dxt, 1e-6)


def test_local_specs_match_the_zoo():
    """The bench's own copy of the two architectures (used when the zoo is absent) is the zoo's, layer for layer."""
    from scratchdream.nets import zoo
    from scratchdream.nets.graph import Net

    for name in ("googlenet", "vgg16"):
        spec, target = bench.bench_spec(name)
        local = Net(bench._local_spec(name))
        ours = Net(spec)
        assert local.shapes(224, 224)[local.resolve(bench.TARGETS[name])] == ours.shapes(224, 224)[target]
        assert sorted(local.param_shapes.values(), key=str) == sorted(ours.param_shapes.values(), key=str)
        assert zoo.spec_for(name)["name"] == name


def test_bench_command_runs_at_a_tiny_size(capsys, torch):
    args = argparse.Namespace(
        nets="vgg16",
        sizes="32",
        repeat=1,
        threads=0,
        layer_size=32,
        no_memory=True,
        compile=False,
        clock="wall",
    )
    assert bench.cmd_bench(args) == 0
    out = capsys.readouterr().out
    assert "sgemm" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:2] == ["vgg16", "32"]]
    assert len(rows) == 1 and float(rows[0][2]) > 0 and float(rows[0][3]) > 0
    layer_rows = [line.split() for line in out.splitlines() if line.startswith("features.")]
    assert [r[0] for r in layer_rows] == [f"features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)]
    assert {r[4] for r in layer_rows} == {
        "im2col",
        "winograd",
    }  # conv1_1 (3 channels) unfolds, the rest Winograd
    assert "tiling vgg16: 16-px tiles are smaller than the receptive field" in out


def test_scaling_line_divides_the_largest_size_by_the_smallest(capsys):
    rows = [("g", 512, 300.0, 400.0, 0.75, 0, 0), ("g", 256, 100.0, 100.0, 1.0, 0, 0)]
    bench.print_scaling(rows)
    assert (
        capsys.readouterr().out.strip()
        == "scaling g 256 -> 512 px (x4.0 the pixels): scratchdream x3.0, torch x4.0"
    )


def test_tiling_row_times_untiled_default_and_exact_margins():
    from nets_for_tests import tiny_inception_net

    from scratchdream.deepdream.tiling import default_margin, exact_margin

    net = tiny_inception_net(0)
    rows = bench.tiling_times(net, "conv3", 96, 1)
    assert [(label, m) for label, m, _ in rows] == [
        ("untiled", None),
        ("default", default_margin(net, ["conv3"], 48)),
        ("exact", exact_margin(net, ["conv3"])),
    ]
    assert all(ms > 0 for _, _, ms in rows)


def test_unknown_net_is_a_usage_error():
    args = argparse.Namespace(nets="resnet", sizes="32", repeat=1)
    with pytest.raises(UsageError, match="bench knows"):
        bench.cmd_bench(args)
