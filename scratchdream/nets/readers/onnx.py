"""ONNX .onnx files: a ModelProto in protobuf wire format (see protobuf.py), read by hand (no onnx package).

Field numbers, from the ONNX project's onnx/onnx.proto (only what a CNN's graph needs is read):
    ModelProto      ir_version 1, graph 7, opset_import 8 (OperatorSetIdProto: domain 1, version 2)
    GraphProto      node 1, name 2, initializer 5, input 11, output 12
    ValueInfoProto  name 1, type 2 -> TypeProto.tensor_type 1 -> shape 2 -> dim 1 -> dim_value 1
    NodeProto       input 1, output 2, name 3, op_type 4, attribute 5, domain 7
    AttributeProto  name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, type 20
    TensorProto     dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9,
                    double_data 10, data_location 14 (1: the numbers are in another file)
A tensor's numbers are either raw_data (little-endian, back to back) or the typed field of its data type:
float in float_data, double in double_data, int64 in int64_data, and float16 as its 16-bit patterns, one
varint each, in int32_data. The element count (product of dims) times the item size is checked against
the bytes the file holds before any array is made.
"""

from dataclasses import dataclass, field

import numpy as np

from ...errors import UserError
from . import MAX_OUTPUT_BYTES, check_file, damaged, short
from .protobuf import WireError, decode

WHAT = "ONNX model"

# Counts far beyond any CNN, so that 2-byte fields cannot become millions of Python objects:
MAX_NODES = 20_000  # a ResNet-152 exported by torch has about 500 nodes; tf2onnx Inception v3 ~ 800
MAX_TENSORS = 20_000  # initializers, and the graph's inputs and outputs
MAX_LINKS = 256  # inputs or outputs of one node (a Concat of an Inception module has 4)
MAX_ATTRS = 64  # attributes of one node (a Conv has 6)
MAX_INTS = 1 << 16  # an "ints" attribute or an int64 tensor (shapes, axes, pads: a handful)
MAX_AXES = 8  # dims of one tensor (a conv weight has 4)
MAX_CHUNKS = 1 << 16  # length-delimited pieces of one float16 tensor's int32_data (a writer uses one)

FLOAT, INT32, INT64, FLOAT16, DOUBLE = 1, 6, 7, 10, 11  # TensorProto.DataType
DTYPES = {FLOAT: "<f4", INT32: "<i4", INT64: "<i8", FLOAT16: "<f2", DOUBLE: "<f8"}
DTYPE_NAMES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 8: "string", 9: "bool", 12: "uint32",
               13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16"}  # fmt: skip

# The messages this reader decodes: field number -> (name, type[, most repeats]); "[]" marks repeated.
# fmt: off
TENSOR = {
    1: ("dims[]", "int", MAX_AXES), 2: ("data_type", "int"), 4: ("float_data[]", "float"),
    5: ("int32_data[]", "view", MAX_CHUNKS), 7: ("int64_data[]", "int", MAX_INTS), 8: ("name", "string"),
    9: ("raw_data", "view"), 10: ("double_data[]", "double"), 14: ("data_location", "int"),
}
ATTRIBUTE = {
    1: ("name", "string"), 2: ("f", "float"), 3: ("i", "int"), 4: ("s", "bytes"), 5: ("t", "view"),
    6: ("g", "view"), 7: ("floats[]", "float"), 8: ("ints[]", "int", MAX_INTS), 20: ("type", "int"),
}
NODE = {
    1: ("input[]", "string", MAX_LINKS), 2: ("output[]", "string", MAX_LINKS), 3: ("name", "string"),
    4: ("op_type", "string"), 5: ("attribute[]", ATTRIBUTE, MAX_ATTRS), 7: ("domain", "string"),
}
DIM = {1: ("dim_value", "int"), 2: ("dim_param", "string")}
VALUE_INFO = {1: ("name", "string"),
              2: ("type", {1: ("tensor_type", {1: ("elem_type", "int"),
                                               2: ("shape", {1: ("dim[]", DIM, MAX_AXES)})})})}
GRAPH = {
    1: ("node[]", "view", MAX_NODES), 2: ("name", "string"), 5: ("initializer[]", "view", MAX_TENSORS),
    11: ("input[]", VALUE_INFO, MAX_TENSORS), 12: ("output[]", VALUE_INFO, MAX_TENSORS),
}
OPSET = {1: ("domain", "string"), 2: ("version", "int")}
MODEL = {1: ("ir_version", "int"), 2: ("producer_name", "string"), 7: ("graph", "view"),
         8: ("opset_import[]", OPSET, 64)}
# fmt: on
ONNX_DOMAINS = ("", "ai.onnx")  # the standard operators; others (ai.onnx.ml, a vendor's) are not ours
OLDEST_OPSET = 7  # earlier opsets spell BatchNormalization, Gemm and the pads differently


@dataclass
class OnnxNode:
    name: str
    op: str  # op_type, e.g. "Conv"; an op of another domain reads "domain:op"
    inputs: list  # tensor names ("" for an optional input left out)
    outputs: list
    attrs: dict = field(default_factory=dict)  # name -> int, float, str, list, ndarray (a tensor)


@dataclass
class OnnxGraph:
    name: str
    nodes: list  # [OnnxNode], in the file's order (ONNX requires every input to come first)
    initializers: dict  # tensor name -> ndarray (float32/float64/int64 as stored; float16 widened)
    inputs: list  # [(name, dims)] of the graph inputs that are not initializers; dims: int or None each
    outputs: list  # names
    opset: int
    producer: str


def read_onnx(path):
    """.onnx -> OnnxGraph; one UserError line for a damaged file."""
    size = check_file(path, WHAT)
    if size > MAX_OUTPUT_BYTES:
        raise damaged(path, WHAT, f"{size} bytes, more than any known network")
    with open(path, "rb") as f:
        buf = f.read()
    try:
        return _model(buf)
    except WireError as e:
        raise damaged(path, WHAT, str(e)) from None
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use another copy") from None
    except Refused as e:
        raise UserError(f"{path}: {e}") from None


class Refused(ValueError):
    """A well-formed file this reader will not take (external data, an old opset): said with the fix."""


def _model(buf):
    model = decode(buf, MODEL)
    if "graph" not in model:
        raise WireError("no graph: not an ONNX ModelProto")
    opsets = [
        o.get("version", 0) for o in model.get("opset_import", []) if o.get("domain", "") in ONNX_DOMAINS
    ]
    opset = max(opsets, default=1)  # IR version 2 files name no opset: the first one
    if opset < OLDEST_OPSET:
        raise Refused(
            f"opset {opset} is older than {OLDEST_OPSET}; export the model again with a newer opset"
        )
    graph = decode(model["graph"], GRAPH)
    inits = {}
    for i, view in enumerate(graph.get("initializer", [])):
        name, arr = tensor(view, f"initializer {i}")
        inits[name] = arr
    nodes = [_node(decode(view, NODE), i) for i, view in enumerate(graph.get("node", []))]
    inputs = [(v.get("name", ""), _dims(v)) for v in graph.get("input", []) if v.get("name", "") not in inits]
    outputs = [v.get("name", "") for v in graph.get("output", [])]
    return OnnxGraph(
        graph.get("name", ""), nodes, inits, inputs, outputs, opset, model.get("producer_name", "")
    )


def _dims(value_info):
    """A graph input's dims: an int where fixed, None where symbolic ("batch") or absent."""
    shape = value_info.get("type", {}).get("tensor_type", {}).get("shape", {})
    return [d.get("dim_value") if d.get("dim_value", 0) > 0 else None for d in shape.get("dim", [])]


def _node(msg, i):
    name, op, domain = msg.get("name", ""), msg.get("op_type", ""), msg.get("domain", "")
    attrs = {}
    for a in msg.get("attribute", []):
        attrs[a.get("name", "")] = _attr_value(a, f"node {short(name or i)} attribute {short(a.get('name'))}")
    op = op if domain in ONNX_DOMAINS else f"{domain}:{op}"
    return OnnxNode(name, op, msg.get("input", []), msg.get("output", []), attrs)


ATTR_KINDS = {1: "f", 2: "i", 3: "s", 4: "t", 5: "g", 6: "floats", 7: "ints"}  # AttributeProto.type


def _attr_value(a, where):
    """The attribute's value by its declared type (IR 2 files declare none: the field that is there)."""
    key = ATTR_KINDS.get(a.get("type"))
    if key is None:
        key = next((k for k in ("f", "i", "s", "t", "g", "floats", "ints") if k in a), None)
    if key == "t":
        return tensor(a["t"], where)[1] if "t" in a else None
    if key == "s":
        return a.get("s", b"").decode("utf-8", "replace")
    if key == "floats":
        return [float(v) for v in a.get("floats", [])]
    if key == "g":
        return SUBGRAPH
    return a.get(key, [] if key == "ints" else 0)


SUBGRAPH = object()  # an If/Loop body: no CNN op of ours takes one


def tensor(view, where):
    """TensorProto bytes -> (name, ndarray), its size checked against the bytes present before allocating."""
    msg = decode(view, TENSOR)
    name, dims, dtype_code = msg.get("name", ""), msg.get("dims", []), msg.get("data_type", 0)
    where = f"{where} {short(name)}" if name else where
    if msg.get("data_location", 0) == 1:
        raise Refused(
            f"tensor {short(name)} keeps its numbers in a separate file (external data); save the model "
            "with its weights inside it (one .onnx file under 2 GB)"
        )
    if dtype_code not in DTYPES:
        kind = DTYPE_NAMES.get(dtype_code, f"data type {dtype_code}")
        raise Refused(
            f"tensor {short(name)} holds {kind} numbers; only float32/float16/float64/int64 are read"
        )
    if any(d < 0 for d in dims):
        raise WireError(f"{where}: negative dimension in {short(dims)}")
    count, dtype = int(np.prod(dims, dtype=object)), np.dtype(DTYPES[dtype_code])
    if count * dtype.itemsize > MAX_OUTPUT_BYTES:
        raise WireError(f"{where}: dims {short(dims)} ask for more bytes than any network has")
    arr = _numbers(msg, dtype_code, dtype, count, where)
    arr = arr.astype(np.float32) if dtype_code == FLOAT16 else arr.astype(arr.dtype.newbyteorder("="))
    return name, arr.reshape([int(d) for d in dims])


def _numbers(msg, code, dtype, count, where):
    """The flat array of `count` numbers from raw_data or the typed field, each size checked first."""
    if "raw_data" in msg:
        raw = msg["raw_data"]
        if len(raw) != count * dtype.itemsize:
            raise WireError(
                f"{where}: raw_data holds {len(raw)} bytes, its dims need {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype)
    if code == FLOAT16:
        return float16_patterns(msg.get("int32_data", []), count, where)
    typed = {FLOAT: "float_data", DOUBLE: "double_data", INT64: "int64_data"}.get(code)
    values = msg.get(typed, []) if typed else []
    if len(values) != count:
        raise WireError(f"{where}: {len(values)} numbers stored, its dims need {count}")
    return np.asarray(values, dtype)


def float16_patterns(chunks, count, where):
    """float16 numbers kept as varints in int32_data (packed) -> float16 array, read by numpy: each value
    is 1 to 3 bytes, the last one < 0x80 (so the number of such bytes is the number of values)."""
    b = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.flatnonzero(b < 0x80)
    if len(ends) != count or (len(b) and ends[-1] != len(b) - 1):
        raise WireError(f"{where}: int32_data holds {len(ends)} float16 numbers, its dims need {count}")
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.intp)
    length = ends - starts + 1
    if len(length) and length.max() > 3:
        raise WireError(f"{where}: an int32_data value is wider than a float16's 16 bits")
    v = (b[starts] & 0x7F).astype(np.uint32)
    for k in (1, 2):  # the 2nd and 3rd byte of the values that have them, 7 bits each
        has = length > k
        v[has] |= (b[starts[has] + k] & 0x7F).astype(np.uint32) << (7 * k)
    if len(v) and v.max() > 0xFFFF:
        raise WireError(f"{where}: an int32_data value is wider than a float16's 16 bits")
    return v.astype(np.uint16).view(np.float16)
