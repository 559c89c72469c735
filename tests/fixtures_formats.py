"""Writers for the publishers' real file formats, for tests only (the package only reads them).

- Caffe .caffemodel: a tiny protobuf ENCODER with its own field numbers, typed from caffe.proto
  independently of the reader's tables (so a wrong number in the reader cannot hide behind the same
  wrong number here). V1 `layers` (field 2, type enum) and V2 `layer` (field 100, type string);
  blob dims legacy 4-D (num/channels/height/width, right-aligned) or BlobShape; floats packed or one
  field per value.
- PyTorch: torch.save (zip, and `_use_new_zipfile_serialization=False`) goes through the `torch`
  fixture in the tests; `legacy_oldstyle_pth` hand-assembles the pre-1.0 pickle stream whose tensors
  are `torch.FloatTensor` objects restored by `__setstate__` (docs/zoo.md), which torch no longer writes.
- Keras .h5: the legacy weights layout (root attr layer_names, per-group weight_names), via h5py.
"""

import pickle
import struct

import numpy as np

# ----------------------------------------------------------------------------------------------- protobuf
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def varint(n):
    n &= 0xFFFFFFFFFFFFFFFF  # negative int32/int64 travel as 64-bit two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number, wtype):
    return varint(number << 3 | wtype)


def f_varint(number, v):
    return key(number, VARINT) + varint(int(v))


def f_bytes(number, b):
    return key(number, LEN) + varint(len(b)) + bytes(b)


def f_str(number, s):
    return f_bytes(number, s.encode())


def f_float(number, x):
    return key(number, FIXED32) + struct.pack("<f", x)


def f_floats(number, values, packed=True):
    values = np.asarray(values, "<f4").ravel()
    if packed:
        return f_bytes(number, values.tobytes())
    return b"".join(key(number, FIXED32) + v.tobytes() for v in values)


def f_packed_varints(number, values):
    return f_bytes(number, b"".join(varint(v) for v in values))


# caffe.proto field numbers, written out again here on purpose (see the module docstring)
V1_ENUM = {
    "Concat": 3,
    "Convolution": 4,
    "Data": 5,
    "Dropout": 6,
    "InnerProduct": 14,
    "LRN": 15,
    "Pooling": 17,
    "ReLU": 18,
    "Softmax": 20,
    "SoftmaxWithLoss": 21,
}
PARAM_FIELD = {  # param message -> (V1 field, V2 field, {name: (field, kind)})
    "convolution_param": (
        10,
        106,
        {
            "num_output": (1, "v"),
            "bias_term": (2, "v"),
            "pad": (3, "v"),
            "kernel_size": (4, "v"),
            "group": (5, "v"),
            "stride": (6, "v"),
        },
    ),
    "pooling_param": (
        19,
        121,
        {"pool": (1, "v"), "kernel_size": (2, "v"), "stride": (3, "v"), "pad": (4, "v")},
    ),
    "lrn_param": (18, 118, {"local_size": (1, "v"), "alpha": (2, "f"), "beta": (3, "f"), "k": (5, "f")}),
    "inner_product_param": (17, 117, {"num_output": (1, "v")}),
    "concat_param": (9, 104, {"axis": (2, "v")}),
    "dropout_param": (12, 108, {"dropout_ratio": (1, "f")}),
}


def caffe_blob(arr, dims="legacy", packed=True):
    """BlobProto bytes: legacy dims right-align the shape into (num, channels, height, width)."""
    arr = np.asarray(arr, np.float32)
    if dims == "legacy":
        shape4 = (1,) * (4 - arr.ndim) + arr.shape
        head = b"".join(f_varint(n, d) for n, d in zip((1, 2, 3, 4), shape4))
    else:
        head = f_bytes(7, f_packed_varints(1, arr.shape))
    return head + f_floats(5, arr, packed)


def _param(body_fields):
    out = b""
    for value, (number, kind) in body_fields:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out += f_float(number, v) if kind == "f" else f_varint(number, v)
    return out


def caffe_layer(layer, form="v1", dims="legacy", packed=True):
    """LayerParameter (v2) or V1LayerParameter (v1) bytes for a dict {name, type, bottom, top, blobs,
    params}."""
    v1 = form == "v1"
    out = f_str(4 if v1 else 1, layer["name"])
    out += f_varint(5, V1_ENUM[layer["type"]]) if v1 else f_str(2, layer["type"])
    out += b"".join(f_str(2 if v1 else 3, b) for b in layer.get("bottom", []))
    out += b"".join(f_str(3 if v1 else 4, t) for t in layer.get("top", []))
    out += b"".join(f_bytes(6 if v1 else 7, caffe_blob(b, dims, packed)) for b in layer.get("blobs", []))
    for pname, values in layer.get("params", {}).items():
        f1, f2, table = PARAM_FIELD[pname]
        out += f_bytes(f1 if v1 else f2, _param([(v, table[k]) for k, v in values.items()]))
    return out


def caffemodel_bytes(layers, form="v1", dims="legacy", packed=True, name="testnet"):
    """NetParameter bytes: V1 layers go in field 2, V2 layers in field 100."""
    body = f_str(1, name)
    body += f_varint(5, 0)  # force_backward = false: a known field the reader ignores
    body += f_bytes(999, b"\x01\x02unknown")  # an unknown field, which must be skipped
    for layer in layers:
        body += f_bytes(2 if form == "v1" else 100, caffe_layer(layer, form, dims, packed))
    return body


def write_caffemodel(path, layers, form="v1", dims="legacy", packed=True):
    with open(path, "wb") as f:
        f.write(caffemodel_bytes(layers, form, dims, packed))
    return path


# ----------------------------------------------------------------------------------------------- pytorch
# The legacy (pre-1.6) stream is five pickles in a row, then the raw storages (docs/zoo.md).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def legacy_oldstyle_pth(path, tensors, views=(), py2_pairs=False, checkpoint=None):
    """Write a pre-1.0 style checkpoint: an OrderedDict whose tensors are pickled as
    `torch.FloatTensor` + NEWOBJ + BUILD((storage, offset, size, stride)), keys as py2 byte strings.
    py2_pairs: the OrderedDict as Python 2 pickles it, OrderedDict([[key, value], ...]) by REDUCE,
    instead of OrderedDict() then SETITEMS as Python 3 does.
    checkpoint: {name: int, float or str}: wrap the state dict as a training script saves it, in one py2
    dict {**checkpoint, 'state_dict': OrderedDict} (the Places365 authors' files).

    tensors: {name: float32 array}; each gets its own storage.
    views: [(name, of_name, offset, size, stride[, (view_offset, view_numel)])] adds tensors that share the
    storage of `of_name` (element offset and strides); with the 6th item the persistent id also carries
    old torch's storage-view metadata (view_key, view_offset, view_numel) and `offset` counts from the
    view."""
    storages = {}  # key -> contiguous float32 data
    entries = []  # (name, storage key, offset, size, stride, view metadata)
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, np.float32)
        skey = str(140000000 + 64 * len(storages))
        storages[skey] = arr.ravel()
        stride = tuple(int(s // 4) for s in arr.strides)
        entries.append((name, skey, 0, arr.shape, stride, None))
    keys_of = {e[0]: e[1] for e in entries}
    for i, (name, of, offset, size, stride, *view) in enumerate(views):
        meta = (f"{keys_of[of]}.view{i}",) + tuple(view[0]) if view else None
        entries.append((name, keys_of[of], offset, tuple(size), tuple(stride), meta))

    obj = bytearray(
        b"\x80\x02" + b"ccollections\nOrderedDict\nq\x00" + (b"(](" if py2_pairs else b")Rq\x01(")
    )
    for name, skey, offset, size, stride, meta in entries:
        obj += b"](" if py2_pairs else b""  # EMPTY_LIST, MARK: the [key, value] list
        obj += _short_binstring(name)  # py2 str key
        obj += b"ctorch\nFloatTensor\n)\x81"  # GLOBAL, EMPTY_TUPLE, NEWOBJ
        view = (
            b"N" if meta is None else b"(" + binunicode(meta[0]) + _int_tuple(meta[1:])[1:]
        )  # (key, off, n)
        pid = (
            b"("
            + binunicode("storage")
            + b"ctorch\nFloatStorage\n"
            + binunicode(skey)
            + binunicode("cpu")
            + b"J"
            + struct.pack("<i", storages[skey].size)
            + view
            + b"t"
        )
        state = (
            b"("
            + pid
            + b"Q"
            + b"J"
            + struct.pack("<i", offset)
            + _int_tuple(size)
            + _int_tuple(stride)
            + b"t"
        )
        obj += state + b"b"  # BUILD -> FloatTensor.__setstate__(state)
        obj += b"e" if py2_pairs else b""  # APPENDS
    obj += b"etR." if py2_pairs else b"u."  # APPENDS, TUPLE, REDUCE or SETITEMS; STOP
    if checkpoint is not None:  # EMPTY_DICT, MARK, key/value pairs, SETITEMS: the dict around it
        outer = bytearray(b"\x80\x02}(")
        for k, v in checkpoint.items():
            outer += _short_binstring(k) + _py2_scalar(v)
        obj = outer + _short_binstring("state_dict") + obj[2:-1] + b"u."
    with open(path, "wb") as f:
        for thing in (
            LEGACY_MAGIC,
            LEGACY_PROTOCOL,
            {
                "protocol_version": LEGACY_PROTOCOL,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 8},
            },
        ):
            pickle.dump(thing, f, protocol=2)
        f.write(bytes(obj))
        pickle.dump(list(storages), f, protocol=2)
        for data in storages.values():
            f.write(struct.pack("<q", data.size))
            f.write(data.astype("<f4").tobytes())
    return path


def _py2_scalar(v):
    """An int (BININT), a float (BINFLOAT, big-endian) or a str (SHORT_BINSTRING), as Python 2 does."""
    if isinstance(v, int):
        return b"J" + struct.pack("<i", v)
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    return _short_binstring(v)


def _short_binstring(s):
    b = s.encode("ascii")
    return b"U" + bytes([len(b)]) + b


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int_tuple(values):
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def code_running_pickle(marker_path, how="os.system"):
    """A pickle that would create `marker_path` if anything ever ran it (the attack to refuse)."""
    if how == "os.system":
        call = b"cos\nsystem\n" + binunicode(f"touch {marker_path}") + b"\x85R"
    elif how == "builtins.eval":
        src = f"open({str(marker_path)!r}, 'w').close()"
        call = b"cbuiltins\neval\n" + binunicode(src) + b"\x85R"
    elif how == "stack_global":  # protocol-4 STACK_GLOBAL spelling of os.system
        call = b"\x8c\x02os\x8c\x06system\x93" + binunicode(f"touch {marker_path}") + b"\x85R"
    else:
        raise ValueError(how)
    return b"\x80\x02" + b"ccollections\nOrderedDict\n)R(" + binunicode("w") + call + b"u."


# ----------------------------------------------------------------------------------------------- keras
def write_keras_h5(path, layers, split_names_at=None):
    """Legacy Keras weights file: root attrs layer_names (optionally split into layer_names0, 1, ...
    as Keras does when the attribute is too big), keras_version, backend; one group per layer with
    attr weight_names; datasets at <layer>/<weight name>. layers: {name: [(weight_name, array)]}."""
    import h5py

    names = [n.encode() for n in layers]
    with h5py.File(path, "w") as f:
        if split_names_at:
            for i in range(0, len(names), split_names_at):
                f.attrs[f"layer_names{i // split_names_at}"] = np.array(names[i : i + split_names_at])
        else:
            f.attrs["layer_names"] = np.array(names)
        f.attrs["keras_version"] = b"2.1.2"
        f.attrs["backend"] = b"tensorflow"
        for name, weights in layers.items():
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for wname, arr in weights:
                g.create_dataset(wname, data=arr)
    return path


def handmade_zip_pth(path, size=(2,), stride=(1,), numel=2, after_tensor=b""):
    """A zip checkpoint {'w': tensor} assembled by hand, for forgeries torch would never write:
    any size/stride over a FloatStorage of `numel` zeros, and `after_tensor` opcodes run right after
    the tensor is built (e.g. a BUILD that tries to overwrite its fields)."""
    import zipfile

    pid = (
        b"("
        + binunicode("storage")
        + b"ctorch\nFloatStorage\n"
        + binunicode("0")
        + binunicode("cpu")
        + b"J"
        + struct.pack("<i", numel)
        + b"t"
    )
    tensor = (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + pid
        + b"QK\x00"
        + _int_tuple(size)
        + _int_tuple(stride)
        + b"\x89ccollections\nOrderedDict\n)RtR"
    )
    data_pkl = b"\x80\x02ccollections\nOrderedDict\n)R(" + binunicode("w") + tensor + after_tensor + b"u."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("forged/data.pkl", data_pkl)
        z.writestr("forged/data/0", bytes(4 * numel))
    return path
