"""ONNX graphs written by hand (tests/onnx_encoder.py), in the forms torch's exporter never writes: the NHWC
picture turned by a first Transpose (tf2onnx, keras2onnx), float16 weights (16-bit patterns in int32_data,
and raw), float_data packed and unpacked, double_data, a Reshape fed by Shape -> Gather -> Unsqueeze ->
Concat, MatMul + Add, auto_pad SAME_UPPER, asymmetric pads, Identity; then an op we lack, and damaged files.
The twin is written in torch.nn.functional from the same numbers.
"""

import numpy as np
import pytest
from gradcheck import assert_close
from onnx_encoder import H, P, W, model, nhwc_model, node, tensor, weights, write

import scratchdream as sd
from scratchdream.errors import UserError
from scratchdream.nets.convert import convert_file
from scratchdream.nets.readers.onnx import read_onnx


def twin(w, x_nhwc):
    """The same net in torch.nn.functional, float64: {our layer name: activation}."""
    import torch
    import torch.nn.functional as F

    # our weights file keeps float32 (w2 is float64 in the ONNX file): the twin gets the same numbers
    t = {k: torch.from_numpy(np.asarray(v, np.float32).astype(np.float64)) for k, v in w.items()}
    acts = {}
    x = x_nhwc.permute(0, 3, 1, 2)
    acts[P + "block1_conv1_1/BiasAdd"] = c1 = F.conv2d(x, t["w1"], t["b1"], padding=1)
    acts[P + "block1_conv1_1/Relu"] = r1 = F.relu(c1)
    acts[P + "block1_pool_1/MaxPool"] = p1 = F.max_pool2d(r1, 2, 2)
    c2 = F.conv2d(F.pad(p1, (0, 1, 1, 0)), t["w2"], t["b2"])  # F.pad: (left, right, top, bottom)
    acts[P + "block2_conv1_1/BiasAdd"] = c2
    acts[P + "block2_conv1_1/Relu"] = r2 = F.relu(c2)
    acts[P + "flatten_1/Reshape"] = f = r2.reshape(r2.shape[0], -1)
    acts[P + "dense_1/MatMul"] = d = f @ t["wfc"] + t["bfc"]
    acts[P + "dense_1/Softmax"] = F.softmax(d, 1)
    return acts


def picture(seed, dtype):
    from torch_nets import smooth_image, tv_normalise

    return tv_normalise(smooth_image(H, W, seed)).astype(dtype)


@pytest.fixture
def nhwc(tmp_path):
    w = weights()
    net = convert_file(write(tmp_path / "keras.onnx", nhwc_model(w)))
    sd.save_net(net, str(tmp_path / "keras.h5"))
    return w, sd.load_net(str(tmp_path / "keras.h5"))


def test_nhwc_graph_every_layer_matches_its_twin(torch, nhwc):
    w, net = nhwc
    assert [ly["kind"] for ly in net.spec["layers"]] == [
        "conv", "relu", "maxpool", "conv", "relu", "flatten", "linear", "softmax"
    ]  # fmt: skip
    x = picture(1, np.float32)  # ours NCHW; the twin reads the NHWC picture the model declares
    ours = net.forward(x, upto=net.layer_names, keep=False)
    theirs = twin(w, torch.from_numpy(x.transpose(0, 2, 3, 1).astype(np.float64)))
    for name in net.layer_names:
        assert_close(name, ours[name], theirs[name].numpy(), 1e-4)


@pytest.mark.parametrize("layer, channel", [("block2_conv1", 5), ("dense", 3)])  # live channels
def test_nhwc_graph_input_gradient_matches_its_twin_float64(torch, nhwc, layer, channel):
    from torch_nets import channel_da

    w, net = nhwc
    x = picture(2, np.float64)
    name = net.resolve(layer)
    a = net.forward(x, upto=name)
    mine = net.backward(channel_da(a, channel))
    xt = torch.from_numpy(x.transpose(0, 2, 3, 1).copy()).requires_grad_(True)
    (twin(w, xt)[name][:, channel] ** 2).mean().backward()
    assert np.abs(xt.grad).max() > 0  # a live channel: the comparison is not of zeros
    assert_close(f"dL/dx at {name}", mine, xt.grad.numpy().transpose(0, 3, 1, 2), 1e-8)


def test_keras_scope_names_get_short_aliases(nhwc):
    _, net = nhwc
    assert net.resolve("block1_conv1") == P + "block1_conv1_1/Relu"  # the Keras layer's output: post-ReLU
    assert net.resolve("block1_pool") == P + "block1_pool_1/MaxPool"
    assert net.resolve("dense") == P + "dense_1/Softmax"  # TensorFlow's _1 copy suffix dropped


def test_tensor_forms_read_back_exactly(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {
        "f16_typed": (rng.standard_normal((3, 4)).astype(np.float16), "typed"),
        "f16_raw": (rng.standard_normal((2, 2, 3)).astype(np.float16), "raw"),
        "f32_packed": (rng.standard_normal((5,)).astype(np.float32), "typed"),
        "f32_unpacked": (rng.standard_normal((2, 3)).astype(np.float32), "unpacked"),
        "f64_typed": (rng.standard_normal((4,)), "typed"),
        "i64_typed": (np.array([[-3, 0], [7, 1 << 40]], np.int64), "typed"),
        "i64_raw": (np.array([-1, 2], np.int64), "raw"),
        "empty": (np.zeros((0, 3), np.float32), "raw"),
    }
    inits = [tensor(k, a, form) for k, (a, form) in arrays.items()]
    graph = read_onnx(write(tmp_path / "t.onnx", model([], inits, [], [])))
    for k, (a, _) in arrays.items():
        got = graph.initializers[k]
        assert got.shape == a.shape, k
        np.testing.assert_array_equal(got, a.astype(np.float32) if a.dtype == np.float16 else a, err_msg=k)


# ---- an op we lack: the net ends before it --------------------------------------------------------
def lacking_model():
    rng = np.random.default_rng(1)
    consts = [
        tensor(f"w{i}", rng.standard_normal((4, c, 3, 3)).astype(np.float32)) for i, c in ((1, 3), (2, 4))
    ]
    nodes = [
        node("Conv", ["data_in", "w1"], ["c1"], "conv1", pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"], "relu1"),
        node("Conv", ["r1", "w2"], ["c2"], "conv2"),
        node("Sigmoid", ["c2"], ["l2"], "sigmoid2"),
        node("MaxPool", ["l2"], ["p2"], "pool2", kernel_shape=[2, 2], strides=[2, 2]),
        node("MaxPool", ["r1"], ["side"], "side_pool", kernel_shape=[2, 2], strides=[2, 2]),
    ]
    return model(nodes, consts, [("data_in", [1, 3, 16, 16])], ["p2", "side"])


def test_unsupported_op_drops_what_depends_on_it(tmp_path, capsys):
    net = convert_file(write(tmp_path / "lacking.onnx", lacking_model()))
    assert net.layer_names == ["conv1", "relu1", "conv2", "side_pool"]  # pool2 read the Sigmoid
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'sigmoid2' (Sigmoid)" in err[0] and "2 node(s) dropped" in err[0], err
    assert net.spec["provenance"]["dropped"] == [err[0].split("note: ", 1)[1]]


def test_layers_command_shows_what_was_kept(tmp_path, capsys):
    from scratchdream.cli import main

    path = write(tmp_path / "lacking.onnx", lacking_model())
    assert main(["layers", path, "--size", "16"]) == 0
    out, err = capsys.readouterr()
    assert "conv2" in out and "side_pool" in out and "pool2 " not in out and "Sigmoid" in err


def test_convert_command_names_the_net_and_writes_it(tmp_path, capsys):
    from scratchdream.cli import main

    path = write(tmp_path / "lacking.onnx", lacking_model())
    out = str(tmp_path / "mine.h5")
    assert main(["convert", path, "--net", "mynet", "-o", out]) == 0
    net = sd.load_net(out)
    assert net.name == "mynet" and net.layer_names[0] == "conv1"
    assert "no published checksum" in capsys.readouterr().out


@pytest.mark.parametrize(
    "nodes, words",
    [
        ([node("Sub", ["data_in", "w1"], ["y"], "mean_sub")], "'mean_sub' (Sub)"),
        ([node("Conv", ["data_in", "w1"], ["y"], "c", auto_pad="SAME_UPPER", strides=[2, 2])], "auto_pad"),
    ],
)
def test_nothing_we_can_run_is_one_line(tmp_path, nodes, words):
    consts = [tensor("w1", np.ones((4, 3, 3, 3), np.float32))]
    path = write(tmp_path / "x.onnx", model(nodes, consts, [("data_in", [1, 3, 8, 8])], ["y"]))
    with pytest.raises(UserError, match="no layer scratchdream can run") as e:
        convert_file(path)
    assert words in str(e.value) and "\n" not in str(e.value)


# ---- damaged and refused files -------------------------------------------------------------------
def one_tensor_file(tmp_path, t, opset=13):
    return write(tmp_path / "bad.onnx", model([], [t], [], [], opset=opset))


def f16_patterns(values):
    from onnx_encoder import packed_varints

    return packed_varints(5, values)


def raw_tensor(dims, dtype_code, raw, extra=b""):
    from fixtures_formats import f_bytes, f_varint

    return b"".join(f_varint(1, d) for d in dims) + f_varint(2, dtype_code) + f_bytes(9, raw) + extra


@pytest.mark.parametrize(
    "t, words",
    [
        (raw_tensor([2, 3], 1, b"\0" * 20), "raw_data holds 20 bytes, its dims need 24"),
        (raw_tensor([1 << 40, 1 << 20], 1, b""), "more bytes than any network"),
        (raw_tensor([(1 << 64) - 3], 1, b""), "negative dimension"),
        (raw_tensor([2], 8, b"ab"), "string numbers"),
        (raw_tensor([2], 1, b"\0" * 8, bytes([0x70, 1])), "separate file"),  # data_location 14 = 1
        (raw_tensor([3], 10, b"")[:-2] + f16_patterns([1, 2]), "holds 2 float16 numbers, its dims need 3"),
    ],
)
def test_damaged_tensor_is_one_line(tmp_path, t, words):
    with pytest.raises(UserError) as e:
        read_onnx(one_tensor_file(tmp_path, t))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_old_opset_and_non_onnx_bytes_are_refused(tmp_path):
    with pytest.raises(UserError, match="opset 6 is older than 7"):
        read_onnx(write(tmp_path / "old.onnx", model([], [], [], [], opset=6)))
    with pytest.raises(UserError, match="not a readable ONNX model"):
        read_onnx(write(tmp_path / "junk.onnx", b"\x08\x07\x3a\xff\xff\xff"))
    with pytest.raises(UserError, match="no graph"):
        read_onnx(write(tmp_path / "empty.onnx", b"\x08\x07"))


# ---- one op at a time, with the settings torch's exporter rarely writes -------------------------------
def _one_op_cases():
    """name -> (nodes, initializers, torch function of the (1, 4, 9, 8) input, the kinds we should make)."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 6).astype(np.float32)
    g = rng.standard_normal((4 * 9 * 8, 5)).astype(np.float32)  # Gemm's B (in, out): transB = 0
    c = rng.normal(0, 0.1, (1, 5)).astype(np.float32)
    t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
    return {
        "conv_dilated_grouped_same_lower": (
            [node("Conv", ["x", "w", "b"], ["y"], "conv", group=2, dilations=[2, 2], auto_pad="SAME_LOWER",
                  kernel_shape=[3, 3])],
            [tensor("w", w), tensor("b", b)],
            lambda x: F.conv2d(x, t(w), t(b), padding=2, dilation=2, groups=2),
            ["conv"],
        ),
        "clip_as_relu_opset11": (
            [node("Constant", [], ["lo"], "lo", value=np.array(0.0, np.float32)),
             node("Clip", ["x", "lo"], ["y"], "clip")],
            [], lambda x: F.relu(x), ["relu"],
        ),
        "leaky_relu_default_alpha": (
            [node("LeakyRelu", ["x"], ["y"], "leaky")], [], lambda x: F.leaky_relu(x, 0.01), ["leaky_relu"],
        ),
        "clip_bounds_as_inputs_opset11": (
            [node("Constant", [], ["lo"], "lo", value=np.array(-0.5, np.float32)),
             node("Constant", [], ["hi"], "hi", value=np.array(0.5, np.float32)),
             node("Clip", ["x", "lo", "hi"], ["y"], "clip")],
            [], lambda x: F.hardtanh(x, -0.5, 0.5), ["clip"],
        ),
        "avgpool_ceil_count_pad": (
            [node("AveragePool", ["x"], ["y"], "avg", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                  ceil_mode=1, count_include_pad=1)],
            [], lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True), ["avgpool"],
        ),
        "maxpool_default_stride_1": (
            [node("MaxPool", ["x"], ["y"], "max", kernel_shape=[2, 3])],
            [], lambda x: F.max_pool2d(x, (2, 3), 1), ["maxpool"],
        ),
        "global_avgpool_flatten_gemm": (
            [node("Flatten", ["x"], ["f"], "flat", axis=1),
             node("Gemm", ["f", "g", "c"], ["y"], "gemm", alpha=0.5, beta=2.0)],
            [tensor("g", g), tensor("c", c)],
            lambda x: 0.5 * x.reshape(1, -1) @ t(g) + 2.0 * t(c), ["flatten", "linear"],
        ),
        "concat_of_pools": (
            [node("GlobalAveragePool", ["x"], ["a"], "gap"), node("MaxPool", ["x"], ["m"], "gmp",
             kernel_shape=[9, 8]), node("Concat", ["a", "m"], ["y"], "join", axis=1)],
            [], lambda x: torch.cat([x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], 1),
            ["adaptive_avgpool", "maxpool", "concat"],
        ),
    }  # fmt: skip


@pytest.mark.parametrize("case", ["conv_dilated_grouped_same_lower", "clip_as_relu_opset11",
                                  "leaky_relu_default_alpha", "clip_bounds_as_inputs_opset11",
                                  "avgpool_ceil_count_pad", "maxpool_default_stride_1",
                                  "global_avgpool_flatten_gemm", "concat_of_pools"])  # fmt: skip
def test_one_op_matches_torch(torch, tmp_path, case):
    nodes, inits, expect, kinds = _one_op_cases()[case]
    rng = np.random.default_rng(9)
    pre = [node("Conv", ["data_in", "lift"], ["x"], "lift", kernel_shape=[1, 1])]  # 3 -> 4 channels
    inits = [tensor("lift", rng.standard_normal((4, 3, 1, 1)).astype(np.float32)), *inits]
    path = write(tmp_path / f"{case}.onnx", model(pre + nodes, inits, [("data_in", [1, 3, 9, 8])], ["y"]))
    net = convert_file(path)
    assert [ly["kind"] for ly in net.spec["layers"]] == ["conv", *kinds]
    x = rng.standard_normal((1, 3, 9, 8))
    lifted = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(net.params["lift"]["weight"].astype(np.float64))
    )
    assert_close(case, net.forward(x.astype(np.float32)), expect(lifted).numpy(), 1e-5)


def test_relu6_clip_from_attributes_is_a_clip_layer(tmp_path):
    """Opset 10: Clip's bounds are attributes; Clip(0, 6) is ReLU6."""
    nodes = [
        node("Conv", ["data_in", "w"], ["c"], "conv"),
        node("Clip", ["c"], ["y"], "relu6", min=0.0, max=6.0),
    ]
    path = write(tmp_path / "r6.onnx", model(nodes, [tensor("w", np.full((2, 3, 1, 1), 4, np.float32))],
                                             [("data_in", [1, 3, 4, 4])], ["y"], opset=10))  # fmt: skip
    net = convert_file(path)
    assert [ly["kind"] for ly in net.spec["layers"]] == ["conv", "clip"]
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(net.forward(x), np.clip(4 * x.sum(1, keepdims=True), 0, 6).repeat(2, 1), 1e-5)


def test_clip_unbounded_below_is_dropped_with_its_reason(tmp_path, capsys):
    nodes = [
        node("Conv", ["data_in", "w"], ["c"], "conv"),
        node("Clip", ["c"], ["y"], "top6", max=6.0),
    ]
    path = write(tmp_path / "c.onnx", model(nodes, [tensor("w", np.ones((2, 3, 1, 1), np.float32))],
                                            [("data_in", [1, 3, 4, 4])], ["y"], opset=10))  # fmt: skip
    assert convert_file(path).layer_names == ["conv"]
    assert "'top6' (Clip): Clip to [None, 6.0] (a clip layer needs finite bounds" in capsys.readouterr().err
