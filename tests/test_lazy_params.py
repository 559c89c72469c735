"""Lazy loading (nets/lazy_params.py): a net loaded from its weights file reads a layer's numbers only when a
forward first runs that layer, so a dream on a convolution never reads the classifier; the numbers are
the file's, NaN is still refused (when the layer is read), and the file is still checked whole at load."""

import h5py
import numpy as np
import pytest
from nets_for_tests import tiny_classifier

import scratchdream as sd
from scratchdream.errors import UserError
from scratchdream.nets.lazy_params import LazyParams


@pytest.fixture
def saved(tmp_path):
    net = tiny_classifier(seed=4)
    path = tmp_path / "tiny.h5"
    sd.save_net(net, path)
    return net, str(path)


def test_a_conv_dream_never_reads_the_classifier(saved):
    eager, path = saved
    net = sd.load_net(path)
    assert isinstance(net.params, LazyParams) and net.params.loaded() == []
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    sd.dream(net, img, layers="conv2", octaves=2, steps=2, progress=False)
    assert net.params.loaded() == ["conv1", "bn1", "conv2"]  # fc1 and fc2 are never read
    x = net.preprocess(img)
    np.testing.assert_array_equal(net.forward(x, upto="prob"), eager.forward(x, upto="prob"))
    assert net.params.loaded() == ["conv1", "bn1", "conv2", "fc1", "fc2"]


def test_the_numbers_are_the_files_and_float64_casts_a_copy(saved):
    eager, path = saved
    net = sd.load_net(path)
    for layer, arrays in eager.params.items():
        for key, arr in arrays.items():
            np.testing.assert_array_equal(net.params[layer][key], arr)
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16))
    np.testing.assert_allclose(net.forward(x, upto="fc2"), eager.forward(x, upto="fc2"), rtol=1e-12)
    assert net.params["conv1"]["weight"].dtype == np.float32


def test_nan_in_the_classifier_stops_only_what_reads_it(saved):
    _, path = saved
    with h5py.File(path, "r+") as f:
        f["params/fc2/weight"][0, 0] = np.nan
    net = sd.load_net(path)  # the layout is fine: loading succeeds
    x = np.zeros((1, 3, 16, 16), np.float32)
    net.forward(x, upto="conv2")
    with pytest.raises(UserError, match=r"tiny\.h5: params/fc2/weight holds NaN or infinite numbers"):
        net.forward(x, upto="prob")


def test_a_damaged_layout_is_still_refused_at_load(saved):
    _, path = saved
    with h5py.File(path, "r+") as f:
        del f["params/fc2/bias"]
    with pytest.raises(UserError, match="missing params/fc2/bias"):
        sd.load_net(path)


def test_the_memory_estimate_counts_only_the_parameters_a_dream_reads(saved):
    """A dream on conv2 reads conv1, bn1 and conv2 only: the estimate's fixed part holds their numbers (and
    the picture's copies), not fc1 and fc2's, and estimating reads no layer."""
    from scratchdream.deepdream import budget
    from scratchdream.deepdream.options import DreamOptions

    _, path = saved
    net = sd.load_net(path)
    floats = {name: sum(int(np.prod(s)) for s in p.values()) for name, p in net.param_shapes.items() if p}
    picture = budget.PICTURE_COPIES * 3 * 20 * 24 * 4
    conv = budget._fixed_bytes(net, ["conv2"], 20, 24)
    assert conv == 4 * (floats["conv1"] + floats["bn1"] + floats["conv2"]) + picture
    assert budget._fixed_bytes(net, ["fc2"], 20, 24) == 4 * sum(floats.values()) + picture
    budget.estimate(net, DreamOptions(layers="conv2", octaves=1), 20, 24)
    assert net.params.loaded() == []


def test_freed_memory_is_given_back_only_when_asked(monkeypatch):
    """memory.release_freed calls malloc_trim after a big layer only under keep_low (--max-memory):
    trimming costs page faults on the next step (nets/memory.py's figures)."""
    from scratchdream.nets import memory

    calls = []
    monkeypatch.setattr(memory, "_libc", [lambda pad: calls.append(pad)])
    monkeypatch.setattr(memory, "_trim", [False])
    memory.release_freed(64 << 20)
    assert calls == []
    memory.keep_low()
    memory.release_freed(memory.TRIM_MIN - 1)  # a small layer: nothing to give back
    memory.release_freed(memory.TRIM_MIN)
    assert calls == [0]
    memory.keep_low(False)
    memory.release_freed(64 << 20)
    assert calls == [0]
