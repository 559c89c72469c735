"""The Keras .h5 reader against files laid out as the keras-applications weights are (via h5py)."""

import h5py
import numpy as np
import pytest
from fixtures_formats import write_keras_h5

from scratchdream.errors import UserError
from scratchdream.nets.readers.keras_h5 import read_keras_weights


def _layers(rng):
    return {
        "input_1": [],
        "block1_conv1": [
            ("block1_conv1_W_1:0", rng.standard_normal((3, 3, 3, 4)).astype(np.float32)),
            ("block1_conv1_b_1:0", rng.standard_normal(4).astype(np.float32)),
        ],
        "block1_pool": [],
        # weight_names order is the loading order even when it is not alphabetical
        "batch_normalization_1": [
            ("batch_normalization_1/beta:0", rng.standard_normal(4).astype(np.float32)),
            ("batch_normalization_1/moving_mean:0", rng.standard_normal(4).astype(np.float32)),
            ("batch_normalization_1/moving_variance:0", rng.random(4).astype(np.float32)),
        ],
        "fc1": [
            ("fc1/kernel:0", rng.standard_normal((6, 2)).astype(np.float32)),
            ("fc1/bias:0", rng.standard_normal(2).astype(np.float32)),
        ],
    }


@pytest.mark.parametrize("split", [None, 2], ids=["layer_names", "layer_names0.."])
def test_round_trip_in_weight_names_order(tmp_path, split):
    layers = _layers(np.random.default_rng(0))
    got = read_keras_weights(write_keras_h5(tmp_path / "w.h5", layers, split_names_at=split))
    assert list(got) == list(layers)
    for name, weights in layers.items():
        assert len(got[name]) == len(weights)
        for mine, (_, want) in zip(got[name], weights):
            assert mine.shape == want.shape  # kernels stay HWIO; the converter transposes
            np.testing.assert_array_equal(mine, want)


def test_full_model_file_keeps_weights_under_model_weights(tmp_path):
    layers = _layers(np.random.default_rng(1))
    p = write_keras_h5(tmp_path / "inner.h5", layers)
    full = tmp_path / "model.h5"
    with h5py.File(full, "w") as f, h5py.File(p, "r") as src:
        src.copy(src["/"], f, "model_weights")
        f.attrs["model_config"] = "{}"
    assert list(read_keras_weights(full)) == list(layers)


def test_not_keras_and_damaged(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(UserError, match="not Keras weights"):
        read_keras_weights(tmp_path / "other.h5")
    layers = _layers(np.random.default_rng(2))
    data = write_keras_h5(tmp_path / "w.h5", layers).read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable Keras"):
        read_keras_weights(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "w.h5", "a") as f:
        f["fc1"].attrs["weight_names"] = np.array([b"fc1/kernel:0", b"fc1/missing:0"])
    with pytest.raises(UserError, match="missing:0"):
        read_keras_weights(tmp_path / "w.h5")
