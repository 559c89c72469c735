"""The benchmark, both halves: `scratchdream bench` (the package, no torch) and benchmarks/torch_compare.py
(`make bench`), whose torch twin must compute the same dream step as scratchdream. Both run at a tiny size.

No timing is asserted: speed is what `make bench` reports, not what a unit test can hold on a shared machine.
"""

import argparse
import math
import os
import sys

import numpy as np
import pytest
from gradcheck import assert_close

from scratchdream import bench
from scratchdream.errors import UsageError
from scratchdream.nets import zoo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

TINY = [
    "--nets",
    "vgg16",
    "--sizes",
    "32",
    "--repeat",
    "1",
    "--layer-size",
    "32",
    "--no-memory",
    "--no-compile",
]
VGG16_CONVS = [f"features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)]


def _tiny_args():
    return argparse.Namespace(
        nets="vgg16",
        sizes="32",
        repeat=1,
        threads=0,
        layer_size=32,
        no_memory=True,
        compile=False,
        clock="wall",
    )


def _rows(out, *first):
    return [line.split() for line in out.splitlines() if line.split()[: len(first)] == list(first)]


@pytest.mark.parametrize("name", ["googlenet", "vgg16"])
def test_the_bench_nets_are_the_zoos_cut_after_the_target(name):
    """Not a copy: the zoo's own layers, in order, up to the target, and exactly those the target reads."""
    spec, target = bench.bench_spec(name)
    full = zoo.spec_for(name)["layers"]
    assert spec["layers"] == full[: len(spec["layers"])] and spec["layers"][-1]["name"] == target
    by_name, need, todo = {layer["name"]: layer for layer in full}, set(), [target]
    while todo:  # the target's ancestors, walked here from the spec's inputs
        n = todo.pop()
        if n in by_name and n not in need:
            need.add(n)
            todo += by_name[n]["inputs"]
    assert {layer["name"] for layer in spec["layers"]} == need


@pytest.mark.parametrize("name", ["googlenet", "vgg16"])
def test_torch_twin_computes_the_same_dream_step(name, torch):
    """Same spec, same weights: h and dL/dx (L = ½‖h‖²) agree, so the bench compares like with like."""
    import torch_compare

    net, target = bench.build_sd(name)
    model = torch_compare.build_torch(net, target)
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 48)).astype(np.float32)
    h = net.forward(x, upto=target, keep=False)
    ht = model(torch.tensor(x))
    assert_close(f"{name} h", h, ht.detach().numpy(), 1e-4)
    # The gradient is compared in float64. In float32, random weights leave some activations within rounding
    # of a ReLU kink or a max-pool tie, where two correct implementations route the gradient differently
    # (seen once: 8e-4 on vgg16 in a fresh clone).
    x64 = x.astype(np.float64)
    dx = net.backward(net.forward(x64, upto=target))
    dxt = torch_compare.torch_step(model.double(), torch.tensor(x64)).numpy()
    assert_close(f"{name} dL/dx", dx, dxt, 1e-6)


def test_bench_command_runs_at_a_tiny_size_without_torch(capsys):
    assert bench.cmd_bench(_tiny_args()) == 0
    out = capsys.readouterr().out
    assert "sgemm" in out and "torch" not in out.replace(bench.TORCH_NOTE, "")
    assert out.strip().endswith(bench.TORCH_NOTE)
    (head,) = _rows(out, "net")
    assert head == ["net", "size", "ms", "sd", "MB", "sd"]
    (row,) = _rows(out, "vgg16", "32")
    assert row[1] == "32" and float(row[2]) > 0 and row[3] == "nan"  # --no-memory
    layer_rows = [line.split() for line in out.splitlines() if line.startswith("features.")]
    assert [r[0] for r in layer_rows] == VGG16_CONVS
    # conv1_1 (3 channels) unfolds, the rest go by Winograd
    assert {r[4] for r in layer_rows} == {"im2col", "winograd"}
    # a row: name, shape (3 words), path, ms, GF/s, %
    assert all(len(r) == 8 and float(r[5]) > 0 for r in layer_rows)
    assert "tiling vgg16: 16-px tiles are smaller than the receptive field" in out


def test_torch_compare_adds_torchs_columns(capsys, torch):
    import torch_compare

    assert torch_compare.main(TINY) == 0
    out = capsys.readouterr().out
    assert bench.TORCH_NOTE not in out
    (head,) = _rows(out, "net")
    assert head == ["net", "size", "ms", "sd", "ms", "torch", "ratio", "MB", "sd", "MB", "torch"]
    (row,) = _rows(out, "vgg16", "32")
    assert (
        float(row[2]) > 0
        and float(row[3]) > 0
        and math.isclose(float(row[4]), float(row[2]) / float(row[3]), rel_tol=0.02)
    )
    layer_rows = [line.split() for line in out.splitlines() if line.startswith("features.")]
    assert [r[0] for r in layer_rows] == VGG16_CONVS
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in layer_rows)  # ms sd, ms torch


def test_memory_probes_measure_both_frameworks(torch):
    """The probes run in fresh interpreters from code strings: a slip there would only show as nan."""
    import torch_compare

    assert 0 < bench.peak_mb("vgg16", 32, 1) < 1000
    assert 0 < torch_compare.peak_mb("vgg16", 32, 1) < 1000


def test_scaling_line_divides_the_largest_size_by_the_smallest(capsys):
    rows = [
        {"net": "g", "size": 512, "ms sd": 300.0, "ms torch": 400.0, "ratio": 0.75},
        {"net": "g", "size": 256, "ms sd": 100.0, "ms torch": 100.0, "ratio": 1.0},
    ]
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
