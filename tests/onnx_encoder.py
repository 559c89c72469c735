"""A small ONNX writer for tests: ModelProto bytes from plain Python, with the field numbers typed here from
onnx/onnx.proto, independently of the reader's tables (a wrong number there cannot hide behind the same
wrong number here). It writes what torch's exporter never does: NHWC inputs, float16 weights as varints
in int32_data, float_data and double_data instead of raw_data, symbolic batch sizes.

    tensor(name, array, form)      form: "raw" | "typed" (float_data / double_data / int64_data /
                                   float16 patterns in int32_data) | "unpacked" (float_data one field each)
    node(op, inputs, outputs, name="", **attrs)     attrs: int, float, str, list of int/float, ndarray
    model(nodes, initializers, inputs, outputs, opset=13) -> bytes
    nhwc_model(weights()) -> bytes   a Keras-like net as tf2onnx writes it (test_onnx_encoded, the fuzz seed)
"""

import numpy as np
from fixtures_formats import f_bytes, f_float, f_floats, f_str, f_varint, varint

DTYPE = {np.dtype("float32"): 1, np.dtype("int64"): 7, np.dtype("float16"): 10, np.dtype("float64"): 11,
         np.dtype("int32"): 6, np.dtype("bool"): 9}  # fmt: skip


def packed_varints(number, values):
    return f_bytes(number, b"".join(varint(int(v)) for v in values))


def tensor(name, array, form="raw"):
    """TensorProto: dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9,
    double_data 10."""
    a = np.asarray(array)
    out = b"".join(f_varint(1, d) for d in a.shape) + f_varint(2, DTYPE[a.dtype]) + f_str(8, name)
    if form == "raw":
        return out + f_bytes(9, a.astype(a.dtype.newbyteorder("<")).tobytes())
    if a.dtype == np.float16:  # the 16-bit patterns, one varint each
        return out + packed_varints(5, a.reshape(-1).view(np.uint16))
    if a.dtype == np.float32:
        return out + f_floats(4, a, packed=form != "unpacked")
    if a.dtype == np.float64:
        return out + f_bytes(10, a.astype("<f8").tobytes())
    if a.dtype == np.int64:
        return out + packed_varints(7, a.reshape(-1))
    raise ValueError(a.dtype)


def attribute(name, value):
    """AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3,
    TENSOR 4, FLOATS 6, INTS 7)."""
    out = f_str(1, name)
    if isinstance(value, np.ndarray):
        return out + f_bytes(5, tensor("", value)) + f_varint(20, 4)
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return out + f_varint(3, int(value)) + f_varint(20, 2)
    if isinstance(value, float):
        return out + f_float(2, value) + f_varint(20, 1)
    if isinstance(value, str):
        return out + f_bytes(4, value.encode()) + f_varint(20, 3)
    if all(isinstance(v, (int, np.integer)) for v in value):
        return out + packed_varints(8, value) + f_varint(20, 7)
    return out + f_floats(7, value) + f_varint(20, 6)


def node(op, inputs, outputs, name="", **attrs):
    """NodeProto: input 1, output 2, name 3, op_type 4, attribute 5."""
    out = b"".join(f_str(1, t) for t in inputs) + b"".join(f_str(2, t) for t in outputs)
    out += (f_str(3, name) if name else b"") + f_str(4, op)
    return out + b"".join(f_bytes(5, attribute(k, v)) for k, v in attrs.items())


def value_info(name, dims):
    """ValueInfoProto {name 1, type 2 {tensor_type 1 {elem_type 1, shape 2 {dim 1 {dim_value 1 |
    dim_param 2}}}}}; a str dim is symbolic."""
    dim = b"".join(f_bytes(1, f_str(2, d) if isinstance(d, str) else f_varint(1, d)) for d in dims)
    return f_str(1, name) + f_bytes(2, f_bytes(1, f_varint(1, 1) + f_bytes(2, dim)))


def model(nodes, initializers, inputs, outputs, opset=13, name="encoded"):
    """ModelProto: ir_version 1, producer_name 2, graph 7 {node 1, name 2, initializer 5, input 11,
    output 12}, opset_import 8 {domain 1, version 2}."""
    graph = b"".join(f_bytes(1, n) for n in nodes) + f_str(2, name)
    graph += b"".join(f_bytes(5, t) for t in initializers)
    graph += b"".join(f_bytes(11, value_info(n, d)) for n, d in inputs)
    graph += b"".join(f_bytes(12, value_info(n, [1])) for n in outputs)
    return (
        f_varint(1, 7) + f_str(2, "tests") + f_bytes(7, graph) + f_bytes(8, f_str(1, "") + f_varint(2, opset))
    )


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


# ---- a Keras-like net as tf2onnx writes it ---------------------------------------------------------------
H, W = 12, 10
P = "functional_1/"  # Keras' scope names, as tf2onnx keeps them


def weights(seed=0):
    rng = np.random.default_rng(seed)
    he = lambda shape, fan: rng.standard_normal(shape) * np.sqrt(2.0 / fan)  # noqa: E731
    return {
        "w1": he((6, 3, 3, 3), 27).astype(np.float16),  # float16, in int32_data
        "b1": rng.normal(0, 0.1, 6).astype(np.float32),  # float_data, packed
        "w2": he((8, 6, 3, 2), 36),  # float64, double_data
        "b2": rng.normal(0, 0.1, 8).astype(np.float16),  # float16, raw
        "wfc": he((8 * 5 * 5, 5), 200).astype(np.float32),  # MatMul's B (in, out): float_data unpacked
        "bfc": rng.normal(0, 0.1, 5).astype(np.float32),  # raw
    }


def nhwc_model(w):
    """picture (batch, H, W, 3) -> Transpose -> conv 3x3 SAME -> relu -> maxpool 2 -> Identity -> conv 3x2
    pads [t1, l0, b0, r1] -> relu -> Reshape(Shape/Gather/Unsqueeze/Concat) -> MatMul + Add -> Softmax."""
    consts = [
        tensor("w1", w["w1"], "typed"), tensor("b1", w["b1"], "typed"), tensor("w2", w["w2"], "typed"),
        tensor("b2", w["b2"], "raw"), tensor("wfc", w["wfc"], "unpacked"), tensor("bfc", w["bfc"], "raw"),
        tensor("zero", np.array(0, np.int64), "typed"), tensor("axes0", np.array([0], np.int64), "raw"),
    ]  # fmt: skip
    nodes = [
        node("Transpose", ["input_1"], ["x"], P + "transpose", perm=[0, 3, 1, 2]),
        node("Conv", ["x", "w1", "b1"], ["c1"], P + "block1_conv1_1/BiasAdd", auto_pad="SAME_UPPER",
             kernel_shape=[3, 3]),
        node("Relu", ["c1"], ["r1"], P + "block1_conv1_1/Relu"),
        node("MaxPool", ["r1"], ["p1"], P + "block1_pool_1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Identity", ["p1"], ["i1"], P + "identity"),
        node("Conv", ["i1", "w2", "b2"], ["c2"], P + "block2_conv1_1/BiasAdd", pads=[1, 0, 0, 1]),
        node("Relu", ["c2"], ["r2"], P + "block2_conv1_1/Relu"),
        node("Shape", ["r2"], ["s"], P + "flatten_1/Shape"),
        node("Gather", ["s", "zero"], ["n"], P + "flatten_1/strided_slice", axis=0),
        node("Unsqueeze", ["n", "axes0"], ["n1"], P + "flatten_1/Unsqueeze"),
        node("Constant", [], ["minus1"], P + "flatten_1/Const", value=np.array([-1], np.int64)),
        node("Concat", ["n1", "minus1"], ["shape"], P + "flatten_1/stack", axis=0),
        node("Reshape", ["r2", "shape"], ["f"], P + "flatten_1/Reshape"),
        node("MatMul", ["f", "wfc"], ["m"], P + "dense_1/MatMul"),
        node("Add", ["m", "bfc"], ["d"], P + "dense_1/BiasAdd"),
        node("Softmax", ["d"], ["out"], P + "dense_1/Softmax", axis=-1),
    ]  # fmt: skip
    return model(nodes, consts, [("input_1", ["batch", H, W, 3])], ["out"])
