"""The HDF5 weight format: a bit-identical round trip, one-line errors for every broken file, atomic
writes."""

import errno
import json
import os

import h5py
import numpy as np
import pytest
from nets_for_tests import random_input, tiny_classifier, tiny_inception_net

import scratchdream as sd
from scratchdream import weights_io
from scratchdream.errors import UserError


@pytest.fixture
def saved(tmp_path):
    net = tiny_inception_net(seed=1)
    path = tmp_path / "tiny.h5"
    sd.save_net(net, path)
    return net, path


def _one_line_error(path, match):
    with pytest.raises(UserError, match=match) as err:
        sd.load_net(path)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("make", [tiny_inception_net, tiny_classifier])
def test_round_trip_is_bit_identical(tmp_path, make):
    net = make(seed=2)
    path = tmp_path / "net.h5"
    sd.save_net(net, path)
    loaded = sd.load_net(str(path))
    assert loaded.layer_names == net.layer_names and loaded.aliases == net.aliases
    assert loaded.labels == net.labels
    assert loaded.spec["provenance"] == net.spec["provenance"]
    assert loaded.spec["input"] == net.spec["input"]
    assert loaded.spec["dream_layers"] == net.spec["dream_layers"]
    for layer, arrays in net.params.items():
        for key, value in arrays.items():
            assert loaded.params[layer][key].dtype == np.float32
            np.testing.assert_array_equal(loaded.params[layer][key], value)
    x = random_input(net, seed=3, dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_layout_is_documented_and_readable(saved):
    net, path = saved
    with h5py.File(path, "r") as f:
        assert (
            f.attrs["format"] == weights_io.FORMAT and f.attrs["format_version"] == weights_io.FORMAT_VERSION
        )
        assert json.loads(f.attrs["architecture"])["layers"][0]["name"] == "conv1"
        assert f["params/conv1/weight"].shape == (8, 3, 3, 3)  # OIHW
        assert f["params/inc/3x3/weight"].dtype == np.float32  # '/' in a name: nested groups
        assert "labels" not in f.attrs  # no classifier, no labels


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "nope.h5", "not found")


@pytest.mark.parametrize("keep", [0, 100, 0.5, -64])
def test_truncated_file(saved, keep):
    _, path = saved
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    path.write_bytes(data[:n])
    _one_line_error(path, "truncated|not a readable HDF5|cannot be read")


def test_text_file_named_h5(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_text("hello, I am not HDF5\n")
    _one_line_error(path, "not a readable HDF5 file")


def test_foreign_hdf5_file(tmp_path):
    path = tmp_path / "keras.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("model_weights/dense/kernel", data=np.zeros((3, 4), np.float32))
        f.attrs["keras_version"] = "2.1.0"
    _one_line_error(path, "not a scratchdream weights file")
    with h5py.File(path, "a") as f:
        f.attrs["format"] = "something-else"
    _one_line_error(path, "not a scratchdream weights file")


@pytest.mark.parametrize("version", [2, 0, "one"])
def test_wrong_format_version(saved, version):
    _, path = saved
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = version
    _one_line_error(path, "format version")


def test_wrong_weight_shape(saved):
    _, path = saved
    with h5py.File(path, "a") as f:
        del f["params/conv2/weight"]
        f.create_dataset("params/conv2/weight", data=np.zeros((8, 8, 3, 3), np.float32))
    msg = _one_line_error(path, "conv2")
    assert "(8, 8, 3, 3)" in msg and "(8, 8, 1, 1)" in msg


@pytest.mark.parametrize("dtype", ["i4", "u1", "?"])
def test_weights_that_are_not_floats(saved, dtype):
    _, path = saved
    with h5py.File(path, "a") as f:
        del f["params/conv2/weight"]
        f.create_dataset("params/conv2/weight", data=np.zeros((8, 8, 1, 1), dtype))
    msg = _one_line_error(path, "params/conv2/weight holds")
    assert "weights are floating point" in msg and str(np.dtype(dtype)) in msg


def test_missing_dataset(saved):
    _, path = saved
    with h5py.File(path, "a") as f:
        del f["params/inc/pool_proj/bias"]
    _one_line_error(path, "missing params/inc/pool_proj/bias")


def test_damaged_architecture(saved):
    _, path = saved
    with h5py.File(path, "a") as f:
        f.attrs["architecture"] = "{not json"
    _one_line_error(path, "architecture")
    with h5py.File(path, "a") as f:
        f.attrs["architecture"] = json.dumps({"name": "x"})
    _one_line_error(path, "architecture")
    with h5py.File(path, "a") as f:
        f.attrs["architecture"] = "[1, 2]"
    _one_line_error(path, "architecture")


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_write_is_atomic(tmp_path, monkeypatch, error):
    path = tmp_path / "net.h5"
    path.write_bytes(b"the previous version")
    real, calls = h5py.Group.create_dataset, []

    def create_dataset(group, *args, **kwargs):  # the third dataset fails, as a full disk would
        calls.append(1)
        if len(calls) == 3:
            raise error
        return real(group, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    with pytest.raises(UserError if isinstance(error, OSError) else KeyboardInterrupt) as err:
        sd.save_net(tiny_inception_net(), path)
    assert len(calls) == 3  # it failed in the middle of writing the parameters
    if isinstance(error, OSError):
        assert "disk is full" in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == b"the previous version"
    assert os.listdir(tmp_path) == ["net.h5"]  # no temporary file left behind
