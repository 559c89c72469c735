"""Caffe .caffemodel files: a NetParameter message in protobuf wire format (see protobuf.py).

Two layouts exist and both are read (field numbers from BVLC/caffe src/caffe/proto/caffe.proto):
    V1 (2014; what bvlc_googlenet.caffemodel most likely uses): NetParameter.layers = 2, each a
       V1LayerParameter {bottom 2, top 3, name 4, type 5 (an enum), blobs 6, *_param 9..19}
    V2 (2015 on): NetParameter.layer = 100, each a LayerParameter {name 1, type 2 (a string),
       bottom 3, top 4, blobs 7, *_param 104..121}
A blob (BlobProto) carries its shape either as the legacy 4-D num/channels/height/width (fields 1-4)
or as a BlobShape (field 7), and its values as floats (field 5, packed or not) or doubles (field 8).
Legacy shapes are right-aligned 4-D: an InnerProduct weight is stored as (1, 1, out, in) and a bias
as (1, 1, 1, out); the converter reshapes by the layer's expected shape (the element count is checked).
"""

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ...errors import UserError
from . import MAX_OUTPUT_BYTES, check_file, damaged, short
from .protobuf import LEN, WireError, decode, fields

WHAT = "Caffe .caffemodel file"

# Counts a real net never comes near, so that a file cannot make millions of objects out of 2-byte fields:
MAX_LAYERS = 10_000  # ResNet-152, among the largest Caffe nets, has under 1,000 layers (GoogLeNet ~150)
MAX_BLOBS = 16  # a layer holds 1 (PReLU) to 3 (BatchNorm) blobs
MAX_NET_BLOBS = 10_000  # in all: ResNet-152 has about 1,000 (GoogLeNet ~120)
MAX_LINKS = 256  # bottoms or tops of one layer: an Inception Concat has 4
MAX_AXES = 32  # blob dims; conv pads, kernels, strides, dilations: one per spatial axis

# The messages this reader decodes, as tables: field number -> (name, type[, most repeats]); "[]" marks a
# repeated field. Written several fields a line, like a .proto listing (and kept so by `fmt: off`).
# fmt: off
BLOB_SHAPE = {1: ("dim[]", "int", MAX_AXES)}
BLOB = {  # 6 and 9 (the diffs) are skipped
    1: ("num", "int"), 2: ("channels", "int"), 3: ("height", "int"), 4: ("width", "int"),
    5: ("data[]", "float"), 7: ("shape", BLOB_SHAPE), 8: ("double_data[]", "double"),
}
CONVOLUTION = {
    1: ("num_output", "uint"), 2: ("bias_term", "bool"), 3: ("pad[]", "uint", MAX_AXES),
    4: ("kernel_size[]", "uint", MAX_AXES), 5: ("group", "uint"), 6: ("stride[]", "uint", MAX_AXES),
    9: ("pad_h", "uint"), 10: ("pad_w", "uint"), 11: ("kernel_h", "uint"), 12: ("kernel_w", "uint"),
    13: ("stride_h", "uint"), 14: ("stride_w", "uint"), 16: ("axis", "int"),
    18: ("dilation[]", "uint", MAX_AXES),
}
POOLING = {
    1: ("pool", "enum"), 2: ("kernel_size", "uint"), 3: ("stride", "uint"), 4: ("pad", "uint"),
    5: ("kernel_h", "uint"), 6: ("kernel_w", "uint"), 7: ("stride_h", "uint"), 8: ("stride_w", "uint"),
    9: ("pad_h", "uint"), 10: ("pad_w", "uint"), 12: ("global_pooling", "bool"), 13: ("round_mode", "enum"),
}
LRN = {1: ("local_size", "uint"), 2: ("alpha", "float"), 3: ("beta", "float"), 4: ("norm_region", "enum"),
       5: ("k", "float")}
INNER_PRODUCT = {1: ("num_output", "uint"), 2: ("bias_term", "bool"), 5: ("axis", "int"),
                 6: ("transpose", "bool")}
CONCAT = {1: ("concat_dim", "uint"), 2: ("axis", "int")}
DROPOUT = {1: ("dropout_ratio", "float")}

V1_LAYER = {
    2: ("bottom[]", "string", MAX_LINKS), 3: ("top[]", "string", MAX_LINKS), 4: ("name", "string"),
    5: ("type", "enum"), 6: ("blobs[]", BLOB, MAX_BLOBS), 9: ("concat_param", CONCAT),
    10: ("convolution_param", CONVOLUTION), 12: ("dropout_param", DROPOUT),
    17: ("inner_product_param", INNER_PRODUCT), 18: ("lrn_param", LRN), 19: ("pooling_param", POOLING),
}
V2_LAYER = {
    1: ("name", "string"), 2: ("type", "string"), 3: ("bottom[]", "string", MAX_LINKS),
    4: ("top[]", "string", MAX_LINKS), 7: ("blobs[]", BLOB, MAX_BLOBS), 104: ("concat_param", CONCAT),
    106: ("convolution_param", CONVOLUTION), 108: ("dropout_param", DROPOUT),
    117: ("inner_product_param", INNER_PRODUCT), 118: ("lrn_param", LRN), 121: ("pooling_param", POOLING),
}
# fmt: on
NET_LAYERS = {2: V1_LAYER, 100: V2_LAYER}  # NetParameter's fields: V1 `layers`, V2 `layer`

# fmt: off
V1_TYPES = {  # V1LayerParameter.LayerType
    0: "None", 1: "Accuracy", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 8: "Flatten",
    12: "ImageData", 14: "InnerProduct", 15: "LRN", 17: "Pooling", 18: "ReLU", 19: "Sigmoid", 20: "Softmax",
    21: "SoftmaxWithLoss", 22: "Split", 23: "TanH",
}
# fmt: on
PARAMS = (
    "convolution_param",
    "pooling_param",
    "lrn_param",
    "inner_product_param",
    "concat_param",
    "dropout_param",
)


@dataclass
class CaffeLayer:
    name: str
    type: str  # V2 spelling ("Convolution"), V1 enums translated
    bottom: list = field(default_factory=list)
    top: list = field(default_factory=list)
    blobs: list = field(default_factory=list)  # float32 arrays, shapes as stored (see module docstring)
    params: dict = field(
        default_factory=dict
    )  # e.g. {"convolution_param": {"num_output": 64, "kernel_size": [7]}};
    # only fields present in the file, Caffe's defaults not filled in


def read_caffemodel(path):
    """.caffemodel -> OrderedDict {layer name: [blob arrays]} in file order (layers without weights map
    to [])."""
    out = OrderedDict()
    for layer in read_caffemodel_layers(path):
        if layer.name in out and out[layer.name] and layer.blobs:
            raise damaged(path, WHAT, f"two layers named {short(layer.name)} both carry weights")
        if layer.blobs or layer.name not in out:
            out[layer.name] = layer.blobs
    return out


def read_caffemodel_layers(path):
    """.caffemodel -> [CaffeLayer] in file order, V1 and V2 layers alike."""
    size = check_file(path, WHAT)
    if size > MAX_OUTPUT_BYTES:
        raise damaged(path, WHAT, f"{size} bytes, more than any known network")
    with open(path, "rb") as f:
        buf = f.read()
    try:
        layers = _layers(buf)
    except WireError as e:
        raise damaged(path, WHAT, str(e)) from None
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use another copy") from None
    if not layers:
        raise damaged(path, WHAT, "no layers found: not a Caffe NetParameter")
    return layers


def _layers(buf):
    """NetParameter bytes -> [CaffeLayer], V1 ones first: decoded one layer at a time, so the counts are
    checked before the next layer costs anything."""
    found, blobs = {2: [], 100: []}, 0
    for number, wtype, value in fields(buf):
        if number not in NET_LAYERS:
            continue  # the net's name, inputs, state: not needed
        if wtype != LEN:
            raise WireError(f"field {number} (a layer) has wire type {wtype}, expected {LEN}")
        if len(found[number]) == MAX_LAYERS:
            raise WireError(f"more than {MAX_LAYERS:,} layers, more than any real network has")
        layer = _layer(decode(value, NET_LAYERS[number]), v1=number == 2)
        blobs += len(layer.blobs)
        if blobs > MAX_NET_BLOBS:
            raise WireError(f"more than {MAX_NET_BLOBS:,} blobs, more than any real network has")
        found[number].append(layer)
    return found[2] + found[100]


def _layer(msg, v1):
    name = msg.get("name", "")
    kind = msg.get("type", 0 if v1 else "")
    if v1:
        kind = V1_TYPES.get(kind, f"V1:{kind}")
    blobs = [_blob(b, name, i) for i, b in enumerate(msg.get("blobs", []))]
    params = {k: msg[k] for k in PARAMS if k in msg}
    return CaffeLayer(name, kind, msg.get("bottom", []), msg.get("top", []), blobs, params)


def _blob(msg, layer, i):
    """BlobProto dict -> float32 array in its stored shape."""
    data = msg.get("data")
    if data is None or not len(data):
        data = msg.get("double_data", np.zeros(0, np.float32))
    if any(k in msg for k in ("num", "channels", "height", "width")):
        shape = tuple(msg.get(k, 0) for k in ("num", "channels", "height", "width"))  # legacy 4-D
    elif "shape" in msg:
        shape = tuple(msg["shape"].get("dim", []))
    else:
        shape = (len(data),)
    if len(shape) > 32 or any(d < 0 for d in shape) or int(np.prod(shape, dtype=object)) != len(data):
        raise WireError(f"layer {short(layer)} blob {i}: shape {shape} does not hold {len(data)} values")
    return data.astype(np.float32, copy=False).reshape(shape)
