"""The network graph: forward runs only what it must and frees what nobody reads, names and aliases resolve,
the size formulas agree with real forward passes, receptive fields, and pixels <-> input space."""

import copy
import weakref

import numpy as np
import pytest
from nets_for_tests import random_input, tiny_classifier, tiny_inception_net

from scratchdream import layers as kernel_sets
from scratchdream.errors import UsageError, UserError
from scratchdream.layers import Kind
from scratchdream.nets import graph


def _unfused(monkeypatch):
    """Run every layer as the spec writes it (the conv -> relu fusion has its own tests below)."""
    monkeypatch.setattr(graph, "_fuse_relus", lambda plan, targets: plan)


@pytest.fixture
def spy(monkeypatch):
    """Record, at each layer call, which layer runs and which earlier outputs are still alive."""
    calls = []  # (layer name, set of names whose output is still alive)
    outputs = {}  # name -> weakref to its output
    for kind_name, kind in list(graph.KINDS.items()):

        def forward(k, xs, p, layer, kind=kind):
            calls.append((layer["name"], {n for n, ref in outputs.items() if ref() is not None}))
            y, cache = kind.forward(k, xs, p, layer)
            outputs[layer["name"]] = weakref.ref(y)
            return y, cache

        monkeypatch.setitem(graph.KINDS, kind_name, Kind(forward, kind.backward, kind.shape, kind.params))
    return calls


def test_forward_runs_only_the_ancestors(spy, monkeypatch):
    _unfused(monkeypatch)
    net = tiny_inception_net()
    net.forward(random_input(net), upto="inc/3x3")
    order = ["conv1", "pool1", "norm1", "conv2", "conv2/relu", "inc/3x3_reduce", "inc/3x3"]
    assert [name for name, _ in spy] == order


def test_forward_runs_conv_relu_pairs_as_one_layer(spy):
    """With fusion (the default), conv2 -> conv2/relu is one call, under the relu's name."""
    net = tiny_inception_net()
    net.forward(random_input(net), upto="inc/3x3")
    assert [name for name, _ in spy] == ["conv1", "pool1", "norm1", "conv2/relu", "inc/3x3_reduce", "inc/3x3"]


def test_activations_nobody_reads_are_freed(spy, monkeypatch):
    _unfused(monkeypatch)
    net = tiny_inception_net()
    net.forward(random_input(net), upto="conv3", keep=False)
    alive = dict(spy)
    # conv2/relu feeds three branches: it lives until the last of them (inc/pool) has read it
    assert alive["inc/pool"] == {"conv2/relu", "inc/1x1", "inc/3x3"}
    assert alive["inc/pool_proj"] == {"inc/1x1", "inc/3x3", "inc/pool"}
    assert alive["conv3"] == {"pool2"}


def test_without_keep_no_cache_outlives_its_layer(monkeypatch):
    """forward(keep=False): while a layer runs, no earlier layer's cache (which holds its input) is alive."""
    boxes, seen = {}, []  # name -> weakref to its cache's box; alive names at each call

    class Box:  # a tuple cannot be weakly referenced; this wrapper can
        def __init__(self, cache):
            self.cache = cache

    for kind_name, kind in list(graph.KINDS.items()):

        def forward(k, xs, p, layer, kind=kind):
            seen.append({n for n, ref in boxes.items() if ref() is not None})
            y, cache = kind.forward(k, xs, p, layer)
            box = Box(cache)
            boxes[layer["name"]] = weakref.ref(box)
            return y, box

        monkeypatch.setitem(graph.KINDS, kind_name, Kind(forward, kind.backward, kind.shape, kind.params))
    net = tiny_inception_net()
    net.forward(random_input(net), upto="conv3", keep=False)
    assert len(seen) > 5 and not any(seen)


def test_backward_frees_each_cache_once_used(monkeypatch):
    """While layer L's backward runs, the caches of the layers already gone through are freed (their saved
    inputs and masks no longer count towards the step's peak memory); those still to come are alive."""
    _unfused(monkeypatch)
    net = tiny_inception_net()
    boxes, seen, order = {}, [], []  # name -> weakref to its cache's box; (alive names); forward order

    class Box:
        def __init__(self, cache):
            self.cache = cache

    for kind_name, kind in list(graph.KINDS.items()):

        def forward(k, xs, p, layer, kind=kind):
            y, cache = kind.forward(k, xs, p, layer)
            box = Box(cache)
            boxes[layer["name"]] = weakref.ref(box)
            order.append(layer["name"])
            return y, box

        def backward(k, dy, box, params, kind=kind):
            seen.append({n for n, ref in boxes.items() if ref() is not None})
            return kind.backward(k, dy, box.cache, params)

        monkeypatch.setitem(graph.KINDS, kind_name, Kind(forward, backward, kind.shape, kind.params))
    h = net.forward(random_input(net), upto="conv3")
    net.backward(h)
    assert len(seen) == len(order)
    for i, alive in enumerate(seen):  # backward call i runs layer order[-1 - i]
        assert alive == set(order[: len(order) - i]), (order[-1 - i], sorted(alive))
    assert all(ref() is None for ref in boxes.values())


def test_conv_relu_pairs_run_fused_with_the_same_numbers(monkeypatch):
    """conv2 -> conv2/relu runs as one conv with its ReLU fused (the relu layer is never called), yet every
    name gives what it gave unfused: the relu's h and dL/dx, and conv2 itself, asked for, stays pre-ReLU."""
    x = random_input(tiny_inception_net()).astype(np.float64)
    called = []
    relu_kind = graph.KINDS["relu"]
    forward = lambda *a: called.append(1) or relu_kind.forward(*a)  # noqa: E731
    monkeypatch.setitem(
        graph.KINDS, "relu", Kind(forward, relu_kind.backward, relu_kind.shape, relu_kind.params)
    )

    def step(net, upto):
        h = net.forward(x, upto=upto)
        dy = np.random.default_rng(5).standard_normal(h.shape)
        return h, net.backward(dy)

    net = tiny_inception_net()
    fused = {t: step(net, t) for t in ("conv2/relu", "inception", "conv3")}
    assert not called  # conv2 applied the ReLU itself
    both = net.forward(x, upto=["conv2", "conv2/relu"])
    assert len(called) == 1  # conv2 is a target: not fused, the relu layer runs
    assert both["conv2"].min() < 0 and np.array_equal(both["conv2/relu"], np.maximum(both["conv2"], 0))
    _unfused(monkeypatch)
    net = tiny_inception_net()
    for t, (h, dx) in fused.items():
        h0, dx0 = step(net, t)
        np.testing.assert_array_equal(h, h0)
        np.testing.assert_allclose(dx, dx0, rtol=0, atol=1e-12 * np.abs(dx0).max())


def test_fusion_rewrites_the_layer_list_once_per_set_of_targets(monkeypatch):
    """The plan (ancestors, fusion, when to free) is made by the first forward to its targets, then reused."""
    net = tiny_inception_net()
    made = []
    fuse = graph._fuse_relus
    monkeypatch.setattr(
        graph, "_fuse_relus", lambda plan, targets: made.append(list(targets)) or fuse(plan, targets)
    )
    x = random_input(net)
    for _ in range(3):
        net.backward(net.forward(x, upto="inception"))
    net.forward(x, upto=["conv2", "inception"])
    assert made == [["inc/output"], ["conv2", "inc/output"]]
    layers = graph._fuse_relus(net._ancestors(["inc/output"]), ["inc/output"])
    fused = {layer["name"]: layer for layer in layers}
    assert (
        "conv2" not in fused and fused["conv2/relu"]["kind"] == "conv" and fused["conv2/relu"]["hp"]["relu"]
    )
    assert fused["conv2/relu"]["params_of"] == "conv2"  # it runs on conv2's weights
    assert not net._by_name["conv2"]["hp"]["relu"]  # the net's own layer list is untouched


def test_backward_runs_on_the_kernels_its_forward_ran_on(monkeypatch):
    """Switching kernel sets between a forward and its backward cannot mix their caches."""
    net = tiny_inception_net()
    x = random_input(net)
    before = kernel_sets.kernels()
    try:
        kernel_sets.use_kernels("reference")
        h = net.forward(x, upto="conv3")
        kernel_sets.use_kernels("fast")
        dx_mixed = net.backward(h)
        dx_ref = (kernel_sets.use_kernels("reference"), net.forward(x, upto="conv3"), net.backward(h))[2]
    finally:
        kernel_sets.use_kernels(before.name)
    np.testing.assert_array_equal(dx_mixed, dx_ref)


def test_aliases_and_multiple_targets():
    net = tiny_inception_net()
    x = random_input(net)
    assert net.resolve("deep") == "conv3" and net.resolve("conv3") == "conv3"
    np.testing.assert_array_equal(net.forward(x, upto="deep"), net.forward(x, upto="conv3"))
    acts = net.forward(x, upto=["inception", "pool1"])
    assert set(acts) == {"inc/output", "pool1"}
    np.testing.assert_array_equal(acts["inc/output"], net.forward(x, upto="inc/output"))


def test_backward_never_writes_into_the_gradients_it_is_given():
    """The fast concat hands back views of its dL/dy: nothing downstream may write into them, nor into a
    seed, here the concat's own and that of conv2/relu, which feeds the three branches (their gradients
    add to it). Run twice, backward gives the same dL/dI, equal to the sum taken apart."""
    net = tiny_inception_net()
    x = random_input(net).astype(np.float32)
    rng = np.random.default_rng(3)
    acts = net.forward(x, upto=["inc/output", "conv2/relu"])
    seeds = {name: rng.standard_normal(a.shape).astype(np.float32) for name, a in acts.items()}
    kept = copy.deepcopy(seeds)
    first = net.backward(seeds)
    for name in seeds:
        np.testing.assert_array_equal(seeds[name], kept[name])
    net.forward(x, upto=["inc/output", "conv2/relu"])
    np.testing.assert_array_equal(net.backward(seeds), first)
    parts = []
    for name in seeds:  # each seed alone: backward is linear in its seeds
        net.forward(x, upto=["inc/output", "conv2/relu"])
        parts.append(net.backward({n: seeds[n] if n == name else 0 * seeds[n] for n in seeds}))
    np.testing.assert_allclose(first, parts[0] + parts[1], rtol=1e-4, atol=1e-4 * np.abs(first).max())


def test_resolve_names_close_matches_in_one_line():
    net = tiny_inception_net()
    with pytest.raises(UsageError) as err:
        net.resolve("inc/3x3_reduse")
    msg = str(err.value)
    assert "inc/3x3_reduce" in msg and "close matches" in msg and "\n" not in msg
    with pytest.raises(UsageError, match="scratchdream layers"):
        net.resolve("zzzzzzzz")


def test_backward_checks_its_input():
    net = tiny_inception_net()
    x = random_input(net)
    with pytest.raises(RuntimeError):
        net.backward(np.zeros((1, 6, 3, 3)))
    h = net.forward(x, upto="conv3")
    with pytest.raises(UsageError, match="pool1"):
        net.backward({"pool1": np.zeros((1, 8, 7, 7))})
    with pytest.raises(UsageError, match="has shape"):
        net.backward(np.zeros((1,) + h.shape[1:-1] + (h.shape[-1] + 1,)))  # a fast kernel would read past h
    dx = net.backward(np.zeros_like(h))  # the forward's caches are still there
    assert dx.shape == x.shape and not dx.any()


def test_bad_input_is_a_user_error():
    net = tiny_inception_net()
    with pytest.raises(UserError, match="N, 3, H, W"):
        net.forward(np.zeros((3, 15, 15)))


@pytest.mark.parametrize("size", [(15, 15), (23, 17), (9, 30), (32, 32)])
def test_shapes_agree_with_forward(size):
    for net in (tiny_inception_net(), tiny_classifier()):
        if net.name == "tiny_classifier" and tuple(size) != tuple(net.spec["input"]["size"]):
            size = net.spec["input"]["size"]  # a linear layer fixes the input size
        acts = net.forward(random_input(net, size=size), upto=net.layer_names)
        shapes = net.shapes(*size)
        assert shapes["data"] == (3,) + tuple(size)
        for name in net.layer_names:
            assert shapes[name] == acts[name].shape[1:], name


def test_shapes_mark_layers_an_image_is_too_small_for():
    shapes = tiny_inception_net().shapes(3, 3)  # pool1 gives 1x1, pool2 cannot fit a 3x3 window
    assert shapes["pool1"][1:] == (1, 1)
    assert 0 in shapes["pool2"] and shapes["conv3"] == (0, 0, 0)


def test_receptive_field_by_hand():
    net = tiny_inception_net()
    # conv1 3x3: 3 | pool1 3x3/2: 3+2 = 5, jump 2 | 1x1 convs keep it | inc/3x3: 5+2·2 = 9 | the concat takes
    # its widest branch: 9 | pool2 3x3/2: 9+2·2 = 13, jump 4 | conv3 3x3: 13+2·4 = 21
    expected = {
        "conv1": 3,
        "pool1": 5,
        "norm1": 5,
        "conv2": 5,
        "inc/1x1": 5,
        "inc/3x3": 9,
        "inc/pool": 9,
        "inc/output": 9,
        "pool2": 13,
        "conv3": 21,
        "deep": 21,
    }
    assert {name: net.receptive_field(name) for name in expected} == expected
    assert tiny_classifier().receptive_field("fc2") == float("inf")


def test_set_params_checks_names_and_shapes():
    net = tiny_inception_net()
    params = copy.deepcopy(net.params)
    params["conv2"]["weight"] = params["conv2"]["weight"][:, :, :, :1].repeat(2, axis=3)
    with pytest.raises(
        UserError, match=r"conv2: the weights have weight \(8, 8, 1, 2\), this net needs \(8, 8, 1, 1\)"
    ):
        net.set_params(params)
    del params["conv2"]
    with pytest.raises(UserError, match="conv2: the weights have no 'weight'"):
        net.set_params(params)


# BGR 0-255 mean pixel; RGB 0-1 mean/std
@pytest.mark.parametrize("make", [tiny_inception_net, tiny_classifier])
def test_preprocess_deprocess_round_trip(make):
    net = make()
    img = np.random.default_rng(0).integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    x = net.preprocess(img)
    assert x.shape == (1, 3, 7, 9) and x.dtype == np.float32
    np.testing.assert_array_equal(net.deprocess(x), img)
    lo, hi = net.input_range()
    np.testing.assert_allclose(net.preprocess(np.zeros((1, 1, 3), np.uint8)), lo, rtol=1e-6)
    np.testing.assert_allclose(net.preprocess(np.full((1, 1, 3), 255, np.uint8)), hi, rtol=1e-6)


def test_preprocess_channel_order_and_scale():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    bgr = tiny_inception_net().preprocess(red)[0, :, 0, 0]  # Caffe: BGR, 0-255, minus the mean pixel (BGR)
    np.testing.assert_allclose(bgr, [0 - 104.0, 0 - 117.0, 255 - 123.0])
    rgb = tiny_classifier().preprocess(red)[0, :, 0, 0]  # torchvision: RGB, 0-1, (v - mean) / std
    np.testing.assert_allclose(
        rgb, [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225], rtol=1e-6
    )
