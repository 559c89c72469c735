"""bvlc_googlenet: the Caffe GoogLeNet of the original Deep Dream notebook, with Caffe's own blob names.

Written from the published deploy.prototxt (BVLC/caffe models/bvlc_googlenet). Every ReLU there is
in-place (top == bottom), so the blob `inception_4c/1x1` holds the post-ReLU value: each convolution
here is one layer with the ReLU fused (hp relu=True) and keeps the blob's name. Pools use Caffe's ceil
rule; LRN is across channels with alpha divided by the window (Caffe and torch agree). Dropout is the
identity at inference and is left out. The input is BGR, 0..255, minus the notebook's mean pixel.
"""

from types import SimpleNamespace

import numpy as np

from ...errors import UserError
from ..readers.prototxt import first, read_prototxt
from . import (
    Arch,
    avgpool,
    concat,
    conv,
    copy_by_name,
    flatten,
    image_input,
    keys_of,
    linear,
    lrn,
    maxpool,
    net_spec,
    softmax,
)

MEAN_BGR = [104.0, 116.0, 122.0]  # google/deepdream dream.ipynb ("ImageNet mean, training set dependent")

#             in   1x1  3x3_reduce 3x3  5x5_reduce 5x5  pool_proj     (deploy.prototxt; docs/zoo.md)
INCEPTION = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def inception(x, inp):
    """Four branches on `inp`, concatenated on channels: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | maxpool -> 1x1."""
    _, c1, c3r, c3, c5r, c5, cp = INCEPTION[x]
    m = f"inception_{x}/"
    return [
        conv(m + "1x1", inp, c1, 1, relu=True),
        conv(m + "3x3_reduce", inp, c3r, 1, relu=True),
        conv(m + "3x3", m + "3x3_reduce", c3, 3, p=1, relu=True),
        conv(m + "5x5_reduce", inp, c5r, 1, relu=True),
        conv(m + "5x5", m + "5x5_reduce", c5, 5, p=2, relu=True),
        maxpool(m + "pool", inp, 3, 1, p=1, ceil=True),
        conv(m + "pool_proj", m + "pool", cp, 1, relu=True),
        concat(m + "output", [m + "1x1", m + "3x3", m + "5x5", m + "pool_proj"]),
    ]


def spec():
    L = [
        conv("conv1/7x7_s2", "data", 64, 7, s=2, p=3, relu=True),
        maxpool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2, ceil=True),
        lrn("pool1/norm1", "pool1/3x3_s2", 5, 1e-4, 0.75),
        conv("conv2/3x3_reduce", "pool1/norm1", 64, 1, relu=True),
        conv("conv2/3x3", "conv2/3x3_reduce", 192, 3, p=1, relu=True),
        lrn("conv2/norm2", "conv2/3x3", 5, 1e-4, 0.75),
        maxpool("pool2/3x3_s2", "conv2/norm2", 3, 2, ceil=True),
    ]
    prev = "pool2/3x3_s2"
    for x in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        L += inception(x, prev)
        prev = f"inception_{x}/output"
        if x in ("3b", "4e"):
            pool = "pool3/3x3_s2" if x == "3b" else "pool4/3x3_s2"
            L.append(maxpool(pool, prev, 3, 2, ceil=True))
            prev = pool
    # the classifier: needs a 7x7 inception_5b (a 224-ish input); Caffe's InnerProduct flattens by itself
    L += [
        avgpool("pool5/7x7_s1", prev, 7, 1, ceil=True),
        flatten("pool5/flatten", "pool5/7x7_s1"),  # not a Caffe blob: InnerProduct flattens inside
        linear("loss3/classifier", "pool5/flatten", 1000),
        softmax("prob", "loss3/classifier"),
    ]
    aliases = {
        "inception_4c": "inception_4c/output",
        "inception_3b": "inception_3b/output",
        "inception_4d": "inception_4d/output",
        "logits": "loss3/classifier",
    }
    dream_layers = [
        "inception_4c/output",
        "inception_3b/5x5_reduce",
        "inception_3b/output",
        "inception_4d/output",
        "inception_5a/output",
    ]
    return net_spec("googlenet", image_input("BGR", 255.0, MEAN_BGR), L, aliases, dream_layers)


def source_key(layer, what):
    return f"{layer}:{what}"  # convert.read_tensors names Caffe's blobs[0] weight, blobs[1] bias


def file_keys(net_shapes):
    return keys_of(net_shapes, source_key)


def params_from(tensors, net_shapes):
    """Matching is by Caffe layer name; the train net's other layers (data, loss1/*, loss2/*) are ignored."""
    return copy_by_name(tensors, net_shapes, source_key)


# ---- the file's own layer parameters, checked against this architecture -----------------------------
CAFFE_KIND = {
    "Convolution": "conv",
    "Pooling": "maxpool|avgpool",
    "LRN": "lrn",
    "InnerProduct": "linear",
    "Concat": "concat",
    "Softmax": "softmax",
    "ReLU": "relu",  # a stand-alone relu (after a linear layer); those after a conv are fused into it
}
WITHOUT_SETTINGS = ("Concat", "Softmax", "ReLU")


def check_caffe_layers(layers, spec):
    """A .caffemodel also stores each layer's parameters (kernel, stride, pad, ...); compare them with the
    architecture for every layer we use, so a file of another net with the same names and shapes (e.g.
    other strides) is refused instead of silently misread. `layers`: readers.caffemodel.CaffeLayer list."""
    ours = {layer["name"]: layer for layer in spec["layers"]}
    checked = 0
    for cl in layers:
        layer = ours.get(cl.name)
        if layer is None:
            continue  # data, ReLU/Dropout (own names), aux heads, losses
        if layer["kind"] not in CAFFE_KIND.get(cl.type, "?").split("|"):
            _differs(cl.name, "type", cl.type, layer["kind"])
        inputs = [_caffe_blob(i, ours) for i in layer["inputs"]]
        if cl.bottom and list(cl.bottom) != inputs:
            _differs(cl.name, "inputs", list(cl.bottom), inputs)
        if cl.type not in WITHOUT_SETTINGS:
            for what, theirs, mine in _caffe_vs_ours(cl, layer):
                if theirs is not None and theirs != mine:
                    _differs(cl.name, what, theirs, mine)
        checked += 1
    return checked


def _caffe_blob(name, ours):
    """The Caffe blob our layer `name` stands for: InnerProduct flattens inside (our flatten is no blob)
    and an in-place ReLU keeps its input's blob name (relu6 after fc6 writes the blob fc6)."""
    while name in ours and ours[name]["kind"] in ("flatten", "relu"):
        name = ours[name]["inputs"][0]
    return name


def _caffe_vs_ours(cl, layer):
    """(what, file's value or None when absent, ours) for the parameters that decide the computation."""
    hp = layer["hp"]
    message = {
        "Convolution": "convolution_param",
        "Pooling": "pooling_param",
        "LRN": "lrn_param",
        "InnerProduct": "inner_product_param",
    }[cl.type]
    if message not in cl.params:  # a file without the layer's settings: nothing to compare
        return []
    if cl.type in ("Convolution", "Pooling"):
        p = cl.params[message]
        k, s, pad = (
            _hw(p, "kernel_size", "kernel", 0),
            _hw(p, "stride", "stride", 1),
            _hw(p, "pad", "pad", 0),
        )
        out = [
            ("kernel", k, hp["kernel"]),
            ("stride", s, hp["stride"]),
            ("pad", None if pad is None else [pad[0], pad[0], pad[1], pad[1]], hp["pad"]),
        ]
        if cl.type == "Convolution":
            out += [
                ("num_output", p.get("num_output"), hp["out"]),
                ("group", p.get("group", 1), hp.get("groups", 1)),
            ]
        else:
            out += [("pool", {0: "maxpool", 1: "avgpool"}.get(p.get("pool", 0), "other"), layer["kind"])]
        return out
    if cl.type == "LRN":
        p = cl.params.get("lrn_param", {})
        return [
            ("local_size", p.get("local_size", 5), hp["size"]),
            ("norm_region", p.get("norm_region", 0), 0),
            ("alpha", _f32(p.get("alpha", 1.0)), _f32(hp["alpha"])),
            ("beta", _f32(p.get("beta", 0.75)), _f32(hp["beta"])),
            ("k", _f32(p.get("k", 1.0)), _f32(hp["k"])),
        ]
    return [("num_output", cl.params.get("inner_product_param", {}).get("num_output"), hp["out"])]


def _hw(p, name, short, default):
    """Caffe's [h, w] from `name` (one value for both, or repeated) or `<short>_h`/`<short>_w`."""
    v = p.get(name)
    if isinstance(v, (list, tuple)) and len(v):
        return [int(v[0]), int(v[-1])]
    if v is not None and not isinstance(v, (list, tuple)):
        return [int(v), int(v)]
    h, w = p.get(f"{short}_h"), p.get(f"{short}_w")
    if h is not None or w is not None:
        return [int(h if h is not None else default), int(w if w is not None else default)]
    return None if name == "kernel_size" else [default, default]


def _f32(v):
    return float(np.float32(v))


def _differs(layer, what, theirs, mine):
    raise UserError(
        f"{layer}: the file's layer has {what} {theirs}, this network has {mine}; "
        "the file is for another architecture (use --net to choose another)"
    )


# ---- the published deploy.prototxt, checked against this architecture ---------------------------------
ENUMS = {"MAX": 0, "AVE": 1, "STOCHASTIC": 2, "ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}
REPEATED = ("pad", "kernel_size", "stride", "dilation")
V1_NAMES = {
    "CONVOLUTION": "Convolution",
    "POOLING": "Pooling",
    "LRN": "LRN",
    "INNER_PRODUCT": "InnerProduct",
    "CONCAT": "Concat",
    "SOFTMAX": "Softmax",
    "RELU": "ReLU",
    "DROPOUT": "Dropout",
}


def check_prototxt(path, spec):
    """Compare a Caffe deploy.prototxt (text format; `layer {}` or the old `layers {}`) with this
    architecture: every layer we have must be there with the same type, inputs and parameters.
    Returns the number of layers checked; a one-line UserError names the first difference."""
    msg = read_prototxt(path)  # a regular file of bounded size: never a pipe or /dev/zero
    layers = []
    for lay in msg.get("layer", []) + msg.get("layers", []):
        kind = first(lay, "type", "")
        params = {
            k: {f: (v if f in REPEATED else v[-1]) for f, v in sub[-1].items() if not isinstance(v[-1], dict)}
            for k, sub in lay.items()
            if k.endswith("_param")
        }
        for p in params.values():
            p.update({f: ENUMS.get(v, v) for f, v in p.items() if isinstance(v, str)})
        layers.append(
            SimpleNamespace(
                name=first(lay, "name", ""),
                type=V1_NAMES.get(kind, kind),
                bottom=lay.get("bottom", []),
                top=lay.get("top", []),
                params=params,
            )
        )
    checked = check_caffe_layers(layers, spec)
    missing = [
        ly["name"]
        for ly in spec["layers"]
        if ly["kind"] != "flatten" and ly["name"] not in {cl.name for cl in layers}
    ]
    if missing:
        raise UserError(
            f"{path} has no layer {missing[0]!r} (and {len(missing) - 1} more) of this network; "
            f"is it the {spec.get('name', 'network')}'s deploy.prototxt?"
        )
    return checked


BVLC_GOOGLENET = Arch(
    spec,
    params_from=params_from,
    file_keys=file_keys,
    check_layers=check_caffe_layers,
    check_prototxt=check_prototxt,
)
