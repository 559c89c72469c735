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
