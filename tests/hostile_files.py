"""Files an attacker crafts against the checkpoint readers: small on disk, ruinous if read naively.

Each `make_*(folder)` writes one file into `folder` and returns its path (str). Grouped by the cause each
attacks (issue 15); every one of them crashed, hung or ate gigabytes before the readers were fixed.

    pickles   a tuple nested 10^6 deep used as a dict key, added to a set or a frozenset (C recursion in
              hash: SIGSEGV); int keys chosen to collide (quadratic dict); a "billion laughs" tuple as a
              key, a storage key or a value printed in an error; a big string reused as a storage key
    zips      a data.pkl of 200 MB of opcodes deflated to 200 KB; a 1 GB `byteorder` record; storages
              that inflate 1000x
    caffe     millions of empty blobs, layers or bottoms (2 bytes each); 160,000 blobs of 32-D shapes;
              millions of unpacked floats
    onnx      millions of empty nodes, initializers or node inputs; dims that ask for terabytes; a million
              unpacked floats; two million float16 varints
    prototxt  millions of empty messages; a text far larger than any network description
    hdf5      datasets whose numbers live elsewhere (external storage, a virtual dataset, an external or
              soft link) or nowhere (chunks never written), a gzip-compressed dataset, and a global heap
              (where string attributes live) on which libhdf5 loops forever
"""

import json
import os
import pickle
import shutil
import struct
import zipfile
import zlib

import numpy as np
from fixtures_formats import LEGACY_MAGIC, binunicode, f_bytes, f_str, f_varint, write_keras_h5

DEEP = 10**6  # far past any C stack: each level of tuple hashing takes a C stack frame
MERSENNE = (1 << 61) - 1  # CPython hashes an int n to n mod 2**61 - 1: its multiples all hash to 0


# ---- pickles, and the two files a pickle travels in --------------------------------------------------------
def zip_pth(path, data_pkl, compression=zipfile.ZIP_STORED, members=()):
    """A torch-style zip checkpoint holding `data_pkl` (and extra (name, bytes) members)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("a/data.pkl", data_pkl)
        for name, data in members:
            z.writestr(f"a/{name}", data)
        z.writestr("a/version", "3\n")
    return str(path)


def legacy_pth(path, payload, protocol_value=1001):
    """A pre-1.6 checkpoint: magic, protocol, sys_info, `payload` (one pickle), an empty storage list."""
    with open(path, "wb") as f:
        f.write(pickle.dumps(LEGACY_MAGIC, protocol=2))
        f.write(
            protocol_value if isinstance(protocol_value, bytes) else pickle.dumps(protocol_value, protocol=2)
        )
        f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2))
        f.write(payload)
        f.write(pickle.dumps([], protocol=2))
    return str(path)


def deep_tuple():
    """Opcodes pushing ((((),),),) nested DEEP times: EMPTY_TUPLE, then TUPLE1 over and over."""
    return b")" + b"\x85" * DEEP


def laughs(levels=10, width=10):
    """Opcodes pushing a tuple of `width` copies of a tuple of `width` copies ... (`levels` deep) of 'a':
    width**levels elements from a few hundred bytes, by memo GETs (memo slots 0..levels)."""
    out = binunicode("a") + b"q\x00"
    for i in range(1, levels + 1):
        out += b"0(" + (b"h" + bytes([i - 1])) * width + b"tq" + bytes([i])
    return out


def state_dict_with_key(key_ops):
    """A protocol-2 pickle {key: 'v'} whose key is pushed by `key_ops`."""
    return b"\x80\x02}" + key_ops + binunicode("v") + b"s."


def make_deep_key_zip(folder):
    return zip_pth(os.path.join(folder, "deep_key.pth"), state_dict_with_key(deep_tuple()))


def make_deep_key_legacy(folder):
    return legacy_pth(os.path.join(folder, "deep_key_legacy.pth"), state_dict_with_key(deep_tuple()))


def make_deep_set_zip(folder):
    """EMPTY_SET, MARK, the deep tuple, ADDITEMS."""
    return zip_pth(os.path.join(folder, "deep_set.pth"), b"\x80\x04\x8f(" + deep_tuple() + b"\x90.")


def make_deep_frozenset_legacy(folder):
    """MARK, the deep tuple, FROZENSET."""
    return legacy_pth(os.path.join(folder, "deep_frozenset.pth"), b"\x80\x04(" + deep_tuple() + b"\x91.")


def _long(n):
    """LONG1: an int in 10 little-endian bytes (enough for 30,000 x (2**61 - 1))."""
    return b"\x8a\x0a" + n.to_bytes(10, "little", signed=True)


def make_colliding_int_keys_legacy(folder, n=30_000):
    """{k * (2**61 - 1): None for k in 1..n}: every key hashes to 0, so each insertion compares with all
    the keys before it (n**2 / 2 comparisons)."""
    items = b"".join(_long(k * MERSENNE) + b"N" for k in range(1, n))
    return legacy_pth(os.path.join(folder, "colliding_keys.pth"), b"\x80\x02}(" + items + b"u.")


def make_colliding_pairs_zip(folder, n=30_000):
    """The same keys as Python 2 pickled an OrderedDict: OrderedDict([[key, value], ...]) by REDUCE."""
    pairs = b"".join(b"(" + _long(k * MERSENNE) + b"Nl" for k in range(1, n))
    data = b"\x80\x02ccollections\nOrderedDict\n(](" + pairs + b"etR."
    return zip_pth(os.path.join(folder, "colliding_pairs.pth"), data)


def make_laughs_key_zip(folder):
    """A billion-laughs tuple as a dict key: hashing it visits 10**10 elements."""
    return zip_pth(os.path.join(folder, "laughs_key.pth"), state_dict_with_key(laughs()))


def make_laughs_storage_key_zip(folder):
    """A billion-laughs tuple as the storage key of a tensor's persistent id (which a reader may print)."""
    pid = b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + laughs() + binunicode("cpu") + b"K\x01tQ"
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00(K\x01t(K\x01t\x89)tR"
    data = b"\x80\x02}" + binunicode("w") + tensor + b"s."
    return zip_pth(os.path.join(folder, "laughs_storage.pth"), data, members=[("data/0", bytes(4))])


def make_laughs_protocol_legacy(folder):
    """A legacy file whose protocol number is a billion-laughs tuple (a reader names it in its error)."""
    return legacy_pth(
        os.path.join(folder, "laughs_protocol.pth"), pickle.dumps({}, 2), b"\x80\x02" + laughs() + b"."
    )


def make_big_string_storage_key_zip(folder, size=1 << 20, copies=1000):
    """A storage key that is a tuple of 1000 copies of one 1 MB string: 1 GB when printed."""
    key = binunicode("k" * size) + b"q\x000(" + b"h\x00" * copies + b"t"
    pid = b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + key + binunicode("cpu") + b"K\x01tQ"
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00(K\x01t(K\x01t\x89)tR"
    data = b"\x80\x02}" + binunicode("w") + tensor + b"s."
    return zip_pth(os.path.join(folder, "big_key.pth"), data, members=[("data/0", bytes(4))])


def make_opcode_flood_zip(folder, pairs=100 * 10**6):
    """data.pkl of 200 MB (NONE, POP, ... then an empty dict) deflated to ~200 KB."""
    path = os.path.join(folder, "flood.pth")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("a/data.pkl", "w", force_zip64=True) as f:
            f.write(b"\x80\x02")
            chunk = b"N0" * (1 << 20)
            for _ in range(pairs >> 20):
                f.write(chunk)
            f.write(b"}.")
        z.writestr("a/version", "3\n")
    return path


def zeros_deflated(size, chunk=1 << 24):
    """(raw deflate stream, crc32, size) of `size` zero bytes, made fast: each 16 MB chunk is compressed once
    and ended by a full flush, which makes every next chunk's compressed bytes the same."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // chunk):
        crc = zlib.crc32(bytes(chunk), crc)
    return block * (size // chunk) + c.flush(), crc, size


def raw_zip(path, members):
    """A zip archive written byte by byte: members [(name, bytes stored) or (name, zeros_deflated(...))]."""
    body, central = b"", b""
    for name, data in members:
        name = name.encode()
        if isinstance(data, tuple):
            method, (stream, crc, size) = 8, data
        else:
            method, stream, crc, size = 0, data, zlib.crc32(data), len(data)
        head = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, len(stream), size, len(name), 0)
        central += (
            b"PK\x01\x02" + struct.pack("<H", 20) + head + struct.pack("<HHHII", 0, 0, 0, 0, len(body)) + name
        )
        body += b"PK\x03\x04" + head + name + stream
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(body), 0)
    with open(path, "wb") as f:
        f.write(body + central + b"PK\x05\x06" + end)
    return str(path)


def make_byteorder_bomb_zip(folder, size=1 << 30):
    """A byteorder record of 1 GB of zeros deflated to ~1 MB (read whole, it allocates 1 GB)."""
    members = [("a/data.pkl", b"\x80\x02}."), ("a/byteorder", zeros_deflated(size))]
    return raw_zip(os.path.join(folder, "byteorder_bomb.pth"), members)


def make_storage_bomb_zip(folder, numel=256 << 20):
    """One float32 tensor of `numel` zeros (1 GB), its storage deflated ~1000x: 1 MB on disk."""
    pid = b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu")
    pid += b"J" + struct.pack("<i", numel) + b"tQ"
    size = b"(J" + struct.pack("<i", numel) + b"t(K\x01t"
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00" + size + b"\x89)tR"
    data_pkl = b"\x80\x02}" + binunicode("w") + tensor + b"s."
    members = [("a/data.pkl", data_pkl), ("a/data/0", zeros_deflated(4 * numel))]
    return raw_zip(os.path.join(folder, "storage_bomb.pth"), members)


# ---- Caffe: protobuf fields of two bytes each --------------------------------------------------------------
def _write(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_empty_blobs_caffemodel(folder, n=4_000_000):
    """One V1 layer with n empty blobs (field 6, length 0): 8 MB."""
    return _write(folder, "blobs.caffemodel", f_bytes(2, f_str(4, "conv") + b"\x32\x00" * n))


# ---- ONNX: a ModelProto whose graph (field 7) holds the crafted fields ------------------------------------
def onnx_model(graph):
    """ir_version 7, opset 13, the graph bytes as given."""
    return f_varint(1, 7) + f_bytes(7, graph) + f_bytes(8, f_varint(2, 13))


def make_empty_nodes_onnx(folder, n=4_000_000):
    """n empty nodes (graph field 1, length 0): 8 MB."""
    return _write(folder, "nodes.onnx", onnx_model(b"\x0a\x00" * n))


def make_many_initializers_onnx(folder, n=1_000_000):
    """n initializers (graph field 5) of one float each."""
    t = f_varint(1, 1) + f_varint(2, 1) + f_bytes(9, b"\0\0\0\0")
    return _write(folder, "inits.onnx", onnx_model(f_bytes(5, t) * n))


def make_many_node_inputs_onnx(folder, n=2_000_000):
    """One node with n one-letter inputs (node field 1)."""
    return _write(folder, "inputs.onnx", onnx_model(f_bytes(1, f_str(1, "x") * n)))


def make_huge_dims_onnx(folder):
    """A float tensor of 2^31 x 2^31 elements holding 4 bytes."""
    t = f_varint(1, 1 << 31) + f_varint(1, 1 << 31) + f_varint(2, 1) + f_bytes(9, b"\0" * 4)
    return _write(folder, "dims.onnx", onnx_model(f_bytes(5, t)))


def make_unpacked_floats_onnx(folder, n=1_000_000):
    """A float tensor of n values, one float_data field (5 bytes) each: it reads, in linear time."""
    t = f_varint(1, n) + f_varint(2, 1) + (b"\x25" + struct.pack("<f", 1.5)) * n
    return _write(folder, "floats.onnx", onnx_model(f_bytes(5, t)))


def make_float16_varints_onnx(folder, n=2_000_000):
    """A float16 tensor of n values as 3-byte varints in int32_data: it reads, by numpy."""
    t = f_varint(1, n) + f_varint(2, 10) + f_bytes(5, b"\xff\xff\x03" * n)
    return _write(folder, "f16.onnx", onnx_model(f_bytes(5, t)))


def make_empty_layers_caffemodel(folder, n=4_000_000):
    """n empty V1 layers (field 2, length 0): 8 MB."""
    return _write(folder, "layers.caffemodel", b"\x12\x00" * n)


def make_many_blobs_caffemodel(folder, layers=10_000, blobs=16):
    """10,000 V1 layers of 16 blobs, each a 32-D shape (1, 1, ..., 1) and one float: 160,000 blobs in 7 MB."""
    blob = f_bytes(7, f_bytes(1, b"\x01" * 32)) + f_bytes(5, b"\x00\x00\x80\x3f")
    return _write(
        folder, "many_blobs.caffemodel", f_bytes(2, f_str(4, "c") + f_bytes(6, blob) * blobs) * layers
    )


def make_empty_bottoms_caffemodel(folder, n=4_000_000):
    """One V1 layer with n empty bottom names: 8 MB."""
    return _write(folder, "bottoms.caffemodel", f_bytes(2, f_str(4, "conv") + b"\x12\x00" * n))


def make_unpacked_floats_caffemodel(folder, n=2_000_000):
    """One blob of n floats, each in its own field (5 bytes apiece; Caffe writes them packed): 10 MB."""
    blob = f_varint(1, n) + f_varint(2, 1) + f_varint(3, 1) + f_varint(4, 1) + b"\x2d\x00\x00\x80\x3f" * n
    return _write(folder, "unpacked.caffemodel", f_bytes(2, f_str(4, "conv") + f_bytes(6, blob)))


# ---- prototxt ---------------------------------------------------------------------------------------------
def make_many_messages_prototxt(folder, n=1_300_000):
    """n empty messages `a{}`: 3.9 MB of text, a dict and two lists each."""
    return _write(folder, "messages.prototxt", b"a{}" * n)


def make_fifo_prototxt(folder):
    """A named pipe called deploy.prototxt: reading it blocks until someone writes."""
    path = os.path.join(folder, "fifo.prototxt")
    os.mkfifo(path)
    return path


def make_huge_prototxt(folder, size=64 << 20):
    """64 MB of `a: 1 `: more text than any network description."""
    return _write(folder, "huge.prototxt", b"a: 1 " * (size // 5))


# ---- HDF5: our weights format and Keras -------------------------------------------------------------------
def _edited_weights(folder, good, name, edit):
    import h5py

    path = os.path.join(folder, name)
    shutil.copyfile(good, path)
    with h5py.File(path, "r+") as f:
        edit(f, folder)
    return path


def _outside_file(folder, values):
    """A file outside the weights file, holding `values` as raw float32: what external storage reads."""
    path = os.path.join(folder, "outside.bin")
    np.asarray(values, "<f4").tofile(path)
    return path


def make_external_storage_weights(folder, good, param="params/conv3/weight"):
    """`param` replaced by a dataset whose numbers are in outside.bin (HDF5 external storage)."""

    def edit(f, folder):
        shape = f[param].shape
        outside = _outside_file(folder, np.full(shape, 7.0))
        del f[param]
        f.create_dataset(param, shape=shape, dtype="<f4", external=[(outside, 0, 4 * int(np.prod(shape)))])

    return _edited_weights(folder, good, "external_storage.h5", edit)


def make_virtual_weights(folder, good, param="params/conv3/weight"):
    """`param` replaced by a virtual dataset mapping the same dataset of another file."""
    import h5py

    def edit(f, folder):
        shape = f[param].shape
        other = os.path.join(folder, "other.h5")
        with h5py.File(other, "w") as o:
            o.create_dataset("x", data=np.full(shape, 7.0, np.float32))
        layout = h5py.VirtualLayout(shape=shape, dtype=np.float32)
        layout[...] = h5py.VirtualSource(other, "x", shape=shape)
        del f[param]
        f.create_virtual_dataset(param, layout)

    return _edited_weights(folder, good, "virtual.h5", edit)


def make_external_link_weights(folder, good, group="params/conv3"):
    """`group` replaced by an external link to the same group in another file."""
    import h5py

    def edit(f, folder):
        other = os.path.join(folder, "linked.h5")
        with h5py.File(other, "w") as o:
            f.copy(f[group], o, "g")
        del f[group]
        f[group] = h5py.ExternalLink(other, "/g")

    return _edited_weights(folder, good, "external_link.h5", edit)


def make_soft_to_external_link_weights(folder, good, group="params/conv3"):
    """`group` replaced by a soft link to a name that is itself an external link to another file."""
    import h5py

    def edit(f, folder):
        other = os.path.join(folder, "linked2.h5")
        with h5py.File(other, "w") as o:
            f.copy(f[group], o, "g")
        del f[group]
        f["elsewhere"] = h5py.ExternalLink(other, "/g")
        f[group] = h5py.SoftLink("/elsewhere")

    return _edited_weights(folder, good, "soft_link.h5", edit)


def make_unwritten_chunks_weights(folder, good, layer="conv3", out=65_536):
    """The architecture's `layer` given `out` outputs and its weight a chunked dataset never written:
    33 MB declared in a file of a few KB (what `dream` would allocate while reading it; 65,536 is the
    most outputs the architecture check lets a layer have)."""

    def edit(f, folder):
        arch = json.loads(f.attrs["architecture"])
        for spec in arch["layers"]:
            if spec["name"] == layer:
                spec["hp"]["out"] = out
        f.attrs["architecture"] = json.dumps(arch)
        for key in ("weight", "bias"):
            shape = (out,) + f[f"params/{layer}/{key}"].shape[1:]
            del f[f"params/{layer}/{key}"]
            f.create_dataset(f"params/{layer}/{key}", shape=shape, dtype="<f4", chunks=(1000,) + shape[1:])

    return _edited_weights(folder, good, "unwritten.h5", edit)


def _empty_free_space(path):
    """Give the first global heap object of the file index 0 (free space) and size 0: libhdf5 2.0.0 then
    never leaves H5HG__cache_heap_deserialize when a string attribute is read."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        at = data.find(b"GCOL\x01") + 16  # the collection's header: signature, version, 3 bytes, size
        data[at : at + 2] = bytes(2)  # object index
        data[at + 8 : at + 16] = bytes(8)  # object size
        f.seek(0)
        f.write(data)
    return path


def make_global_heap_loop_weights(folder, good):
    """Our weights file (its attributes are variable-length strings, in a global heap), heap damaged."""
    path = os.path.join(folder, "heap_loop.h5")
    shutil.copyfile(good, path)
    return _empty_free_space(path)


def make_global_heap_loop_keras(folder):
    """A Keras file whose layer_names are variable-length strings (h5py's default for a list of str)."""
    import h5py

    path = os.path.join(folder, "keras_heap_loop.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = ["dense"]
        f.create_group("dense").attrs["weight_names"] = ["dense/kernel:0"]
        f["dense"].create_dataset("dense/kernel:0", data=np.ones((2, 2), np.float32))
    return _empty_free_space(path)


def _keras(folder, name, dataset):
    """A one-layer Keras weights file whose one weight `dense/kernel:0` is made by dataset(group, folder)."""
    import h5py

    path = write_keras_h5(
        os.path.join(folder, name), {"dense": [("dense/kernel:0", np.zeros((2, 2), np.float32))]}
    )
    with h5py.File(path, "r+") as f:
        del f["dense/dense/kernel:0"]
        dataset(f["dense/dense"], folder)
    return str(path)


def make_keras_external_storage(folder):
    def dataset(g, folder):
        outside = _outside_file(folder, np.full((4, 3), 7.0))
        g.create_dataset("kernel:0", shape=(4, 3), dtype="<f4", external=[(outside, 0, 48)])

    return _keras(folder, "keras_external.h5", dataset)


def make_keras_unwritten_chunks(folder, side=20_000):
    """A (20000, 20000) float32 kernel (1.6 GB) in chunks that were never written."""

    def dataset(g, folder):
        g.create_dataset("kernel:0", shape=(side, side), dtype="<f4", chunks=(1000, 1000))

    return _keras(folder, "keras_unwritten.h5", dataset)


def make_keras_gzip(folder, side=4000):
    """A (4000, 4000) kernel of zeros, gzip-compressed: 64 MB from about 100 KB."""

    def dataset(g, folder):
        g.create_dataset(
            "kernel:0", data=np.zeros((side, side), np.float32), compression="gzip", chunks=(500, 500)
        )

    return _keras(folder, "keras_gzip.h5", dataset)


def make_keras_external_link(folder):
    import h5py

    def dataset(g, folder):
        other = os.path.join(folder, "keras_other.h5")
        with h5py.File(other, "w") as o:
            o["k"] = np.full((4, 3), 7.0, np.float32)
        g["kernel:0"] = h5py.ExternalLink(other, "/k")

    return _keras(folder, "keras_link.h5", dataset)
