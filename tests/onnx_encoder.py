"""A small ONNX writer for tests: ModelProto bytes from plain Python, with the field numbers typed here from
onnx/onnx.proto, independently of the reader's tables (a wrong number there cannot hide behind the same
wrong number here). It writes what torch's exporter never does: NHWC inputs, float16 weights as varints
in int32_data, float_data and double_data instead of raw_data, symbolic batch sizes.

    tensor(name, array, form)      form: "raw" | "typed" (float_data / double_data / int64_data /
                                   float16 patterns in int32_data) | "unpacked" (float_data one field each)
    node(op, inputs, outputs, name="", **attrs)     attrs: int, float, str, list of int/float, ndarray
    model(nodes, initializers, inputs, outputs, opset=13) -> bytes
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
