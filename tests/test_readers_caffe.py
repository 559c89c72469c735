"""The .caffemodel reader against files written by the tests' own protobuf encoder (fixtures_formats)."""

import os

import numpy as np
import pytest
from fixtures_formats import caffemodel_bytes, f_bytes, f_str, f_varint, write_caffemodel

from scratchdream.errors import UserError
from scratchdream.nets.readers.caffemodel import read_caffemodel, read_caffemodel_layers
from scratchdream.nets.readers.protobuf import read_varint, signed


def _net(rng):
    """A small GoogLeNet-like piece: conv, in-place ReLU, pool, LRN, a concat and a classifier."""
    return [
        {"name": "data", "type": "Data", "top": ["data"]},
        {
            "name": "conv1/7x7_s2",
            "type": "Convolution",
            "bottom": ["data"],
            "top": ["conv1/7x7_s2"],
            "blobs": [rng.standard_normal((4, 3, 7, 7)), rng.standard_normal(4)],
            "params": {"convolution_param": {"num_output": 4, "pad": 3, "kernel_size": 7, "stride": 2}},
        },
        {"name": "conv1/relu_7x7", "type": "ReLU", "bottom": ["conv1/7x7_s2"], "top": ["conv1/7x7_s2"]},
        {
            "name": "pool1/3x3_s2",
            "type": "Pooling",
            "bottom": ["conv1/7x7_s2"],
            "top": ["pool1/3x3_s2"],
            "params": {"pooling_param": {"pool": 0, "kernel_size": 3, "stride": 2}},
        },
        {
            "name": "pool1/norm1",
            "type": "LRN",
            "bottom": ["pool1/3x3_s2"],
            "top": ["pool1/norm1"],
            "params": {"lrn_param": {"local_size": 5, "alpha": 1e-4, "beta": 0.75}},
        },
        {
            "name": "inception_3a/output",
            "type": "Concat",
            "bottom": ["pool1/norm1", "pool1/norm1"],
            "top": ["inception_3a/output"],
        },
        {
            "name": "loss3/classifier",
            "type": "InnerProduct",
            "bottom": ["inception_3a/output"],
            "top": ["fc"],
            "blobs": [rng.standard_normal((10, 8)), rng.standard_normal(10)],
            "params": {"inner_product_param": {"num_output": 10}},
        },
    ]


@pytest.mark.parametrize("form", ["v1", "v2"])
@pytest.mark.parametrize("dims", ["legacy", "shape"])
@pytest.mark.parametrize("packed", [True, False])
def test_round_trip_every_layout(tmp_path, form, dims, packed):
    rng = np.random.default_rng(0)
    layers = _net(rng)
    path = write_caffemodel(tmp_path / "net.caffemodel", layers, form, dims, packed)
    got = read_caffemodel(path)
    assert list(got) == [layer["name"] for layer in layers]
    for layer in layers:
        blobs = got[layer["name"]]
        assert len(blobs) == len(layer.get("blobs", []))
        for mine, want in zip(blobs, layer.get("blobs", [])):
            want = np.asarray(want, np.float32)
            if dims == "legacy":  # Caffe's right-aligned 4-D: bias (1,1,1,N), IP (1,1,M,N)
                assert mine.shape == (1,) * (4 - want.ndim) + want.shape
            else:
                assert mine.shape == want.shape
            assert mine.dtype == np.float32
            np.testing.assert_array_equal(mine.reshape(want.shape), want)


@pytest.mark.parametrize("form", ["v1", "v2"])
def test_types_tops_and_params(tmp_path, form):
    layers = _net(np.random.default_rng(1))
    got = read_caffemodel_layers(write_caffemodel(tmp_path / "n.caffemodel", layers, form))
    by_name = {layer.name: layer for layer in got}
    assert [layer.type for layer in got] == [layer["type"] for layer in layers]  # V1 enums -> V2 names
    conv = by_name["conv1/7x7_s2"].params["convolution_param"]
    assert conv == {"num_output": 4, "pad": [3], "kernel_size": [7], "stride": [2]}
    lrn = by_name["pool1/norm1"].params["lrn_param"]
    assert lrn["local_size"] == 5 and lrn["alpha"] == pytest.approx(1e-4) and lrn["beta"] == 0.75
    assert by_name["inception_3a/output"].bottom == ["pool1/norm1", "pool1/norm1"]
    assert by_name["conv1/relu_7x7"].top == ["conv1/7x7_s2"]
    assert by_name["pool1/3x3_s2"].params["pooling_param"] == {"pool": 0, "kernel_size": 3, "stride": 2}


def test_varints_and_negative_int32():
    assert read_varint(b"\xac\x02", 0, 2) == (300, 2)
    v, _ = read_varint(b"\xff" * 9 + b"\x01", 0, 10)
    assert signed(v) == -1
    with pytest.raises(ValueError):
        read_varint(b"\x80\x80", 0, 2)  # runs off the end
    with pytest.raises(ValueError):
        read_varint(b"\x80" * 11 + b"\x01", 0, 12)  # longer than a 64-bit varint can be


def _damaged(tmp_path, data):
    p = tmp_path / "bad.caffemodel"
    p.write_bytes(data)
    with pytest.raises(UserError) as e:
        read_caffemodel(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def test_truncated_file_is_one_line_error(tmp_path):
    data = caffemodel_bytes(_net(np.random.default_rng(2)))
    for cut in (1, 7, len(data) // 3, len(data) - 1):
        _damaged(tmp_path, data[:cut])


def test_length_larger_than_the_file_is_refused_before_reading(tmp_path):
    huge = b"\x12" + b"\xff\xff\xff\xff\x0f" + b"xx"  # key: field 2, wire type 2; length 4 GiB - 1
    assert "remain" in _damaged(tmp_path, huge)


def test_shape_that_does_not_match_the_data(tmp_path):
    blob = (
        f_varint(1, 2)
        + f_varint(2, 3)
        + f_varint(3, 1)
        + f_varint(4, 1)
        + f_bytes(5, np.zeros(5, "<f4").tobytes())
    )
    layer = f_str(4, "conv") + f_varint(5, 4) + f_bytes(6, blob)
    assert "shape (2, 3, 1, 1)" in _damaged(tmp_path, f_bytes(2, layer))


def test_wrong_files(tmp_path):
    _damaged(tmp_path, b"")  # empty: no layers
    _damaged(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100))  # some other file
    _damaged(tmp_path, f_bytes(100, b"\x0b\x00"))  # wire type 3 (a group) inside a layer
    with pytest.raises(UserError, match="not found"):
        read_caffemodel(tmp_path / "missing.caffemodel")
    with pytest.raises(UserError, match="folder"):
        read_caffemodel(tmp_path)


def test_double_data_and_duplicate_names(tmp_path):
    blob = f_bytes(7, f_bytes(1, b"\x02")) + f_bytes(8, np.array([1.5, -2.0], "<f8").tobytes())
    layer = f_str(1, "ip") + f_str(2, "InnerProduct") + f_bytes(7, blob)
    p = tmp_path / "d.caffemodel"
    p.write_bytes(f_bytes(100, layer))
    np.testing.assert_array_equal(read_caffemodel(p)["ip"][0], np.float32([1.5, -2.0]))
    assert "two layers named 'ip'" in _damaged(tmp_path, f_bytes(100, layer) * 2)


# --------------------------------------------------------------------------------------------- prototxt
DEPLOY_EXCERPT = """name: "GoogleNet"   # a comment
input: "data"
input_shape { dim: 10 dim: 3 dim: 224 dim: 224 }
layer {
  name: "conv1/7x7_s2"
  type: "Convolution"
  bottom: "data"
  top: "conv1/7x7_s2"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param {
    num_output: 64  pad: 3  kernel_size: 7  stride: 2
    weight_filler { type: "xavier" std: 0.1 }
  }
}
layer {
  name: 'pool1/norm1' type: "LRN" bottom: "pool1/3x3_s2" top: "pool1/norm1"
  lrn_param: { local_size: 5 alpha: 0.0001 beta: 0.75 norm_region: ACROSS_CHANNELS }
}
force_backward: true
note: "a \\"quoted\\" word"
"""


def test_prototxt_parses_deploy_style_text():
    from scratchdream.nets.readers.prototxt import first, parse_prototxt

    net = parse_prototxt(DEPLOY_EXCERPT)
    assert first(net, "name") == "GoogleNet" and net["input_shape"][0]["dim"] == [10, 3, 224, 224]
    conv, lrn = net["layer"]
    assert first(conv, "name") == "conv1/7x7_s2" and [first(p, "lr_mult") for p in conv["param"]] == [1, 2]
    cp = first(conv, "convolution_param")
    assert (first(cp, "num_output"), first(cp, "pad"), first(cp, "kernel_size"), first(cp, "stride")) == (
        64,
        3,
        7,
        2,
    )
    lp = first(lrn, "lrn_param")
    assert first(lp, "alpha") == 0.0001 and first(lp, "norm_region") == "ACROSS_CHANNELS"
    assert first(lrn, "name") == "pool1/norm1" and first(net, "force_backward") is True
    assert first(net, "note") == 'a "quoted" word' and first(net, "missing", 7) == 7


@pytest.mark.parametrize(
    "text",
    [
        'layer { name: "x"',
        'layer { name: "x" } }',
        "name: ",
        'name "x"',
        "layer { : 3 }",
        "{ }",
        "a: b: c",
        'x: "unterminated',
    ],
)
def test_prototxt_errors_are_one_line(text):
    from scratchdream.nets.readers.prototxt import parse_prototxt

    with pytest.raises(UserError) as e:
        parse_prototxt(text, source="deploy.prototxt")
    assert str(e.value).startswith("deploy.prototxt") and "\n" not in str(e.value)


def test_pipes_and_devices_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "weights.caffemodel"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    for path in (fifo, "/dev/zero"):  # /dev/zero would stream forever
        with pytest.raises(UserError, match="not a regular file"):
            read_caffemodel(path)


def test_prototxt_option_refuses_pipes_devices_and_huge_files(tmp_path):
    """`convert --prototxt` reads through read_prototxt: a named pipe used to block forever, /dev/zero to
    fill memory."""
    import timebox

    from scratchdream.nets.archs import googlenet
    from scratchdream.nets.zoo import spec_for

    fifo = tmp_path / "deploy.prototxt"
    os.mkfifo(fifo)
    (tmp_path / "big.prototxt").write_bytes(b"# padding\n" * (500 << 10))
    for path, match in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file")):
        with timebox.bounded(10, "check_prototxt"), pytest.raises(UserError, match=match):
            googlenet.check_prototxt(path, spec_for("googlenet"))
    with pytest.raises(UserError, match="more than any network description"):
        googlenet.check_prototxt(tmp_path / "big.prototxt", spec_for("googlenet"))
