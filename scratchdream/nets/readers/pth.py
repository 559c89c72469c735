"""PyTorch .pth checkpoints, read without torch (formats: docs/zoo.md, "File formats").

    zip (torch >= 1.6):  <top>/data.pkl   the state_dict, pickled; each tensor is
                                          _rebuild_tensor_v2(storage, offset, size, stride, ...)
                         <top>/data/<key> each storage's raw little-endian elements
    legacy (< 1.6):      five pickles in a row (magic number, protocol 1001, sys_info, the object,
                         the storage keys), then per key: int64 element count + the raw elements.
                         Old files (the published VGG ones) pickle each tensor as torch.FloatTensor
                         restored by __setstate__((storage, offset, size, stride)).
    tar (oldest):        refused with a message saying how to re-save it.
A storage is a flat run of elements; a tensor is a strided window on it: element (i0, i1, ...) sits at
storage[offset + sum_k i_k * stride_k] (all in elements). Several tensors may share one storage.
The pickles are read by pickle_safe with the stand-ins of torch_objects.py: no code from the file ever runs.
"""

import struct
import zipfile
from collections import OrderedDict

import numpy as np

from ...errors import UserError
from . import MAX_OUTPUT_BYTES, check_file, damaged, short
from .pickle_safe import BoundedReader, safe_load
from .torch_objects import ALLOWED, StorageRef, StorageType, TensorRef, nonneg_int, window

WHAT = "PyTorch checkpoint"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
READ_SLICE = 16 << 20
# What a zip may decompress to. torch stores every member uncompressed; a checkpoint zipped again with
# deflate shrinks about 1.1x (weights) to 5x (data.pkl), a run of zeros up to 1032x (deflate's limit).
MAX_EXPANSION = 32  # all members read: at most 32x the archive's size, plus EXPANSION_FLOOR
EXPANSION_FLOOR = 1 << 20
MAX_PICKLE_BYTES = 16 << 20  # data.pkl holds names and shapes only (GoogLeNet's: 52 KB), and deflates 2-4x:
PICKLE_EXPANSION, PICKLE_FLOOR = 8, 64 << 10  # it may inflate to 8x its compressed size plus 64 KB


def load_state_dict(path):
    """A .pth file -> OrderedDict {name: np.ndarray} (bfloat16 comes back as float32; other dtypes as
    stored)."""
    size = check_file(path, WHAT)
    with open(path, "rb") as f:
        head = f.read(262)
    if head[:4] == b"PK\x03\x04":
        obj, storages = _load_zip(path, size)
    elif head[257:262] == b"ustar":
        raise UserError(
            f"{path} is in PyTorch's oldest (tar) checkpoint format, which scratchdream does not read; "
            "re-save it with torch: torch.save(torch.load(f), 'new.pth'), or fetch the current file"
        )
    else:
        obj, storages = _load_legacy(path, size)
    return _materialize(_find_state_dict(obj, path), storages, path, size)


# ------------------------------------------------------------------------------------------ zip format
def _load_zip(path, size):
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            top = names[0].split("/")[0] if names and "/" in names[0] else None
            if top is None or f"{top}/data.pkl" not in names:
                raise UserError(
                    f"{path} is a zip file but not a PyTorch checkpoint (no <folder>/data.pkl); "
                    "give the .pth file as published"
                )
            budget = _Expansion(size, path)
            pkl = zf.getinfo(f"{top}/data.pkl")
            if pkl.file_size > min(MAX_PICKLE_BYTES, PICKLE_EXPANSION * pkl.compress_size + PICKLE_FLOOR):
                raise damaged(path, WHAT, f"data.pkl claims {pkl.file_size} bytes from {pkl.compress_size}")
            budget.spend(pkl)
            order = _byteorder(zf, f"{top}/byteorder", names)
            refs = {}
            obj = safe_load(zf.read(pkl), path, WHAT, ALLOWED, _zip_persistent_load(refs))
            storages = {
                key: _zip_storage(zf, f"{top}/data/{key}", stype, numel, path, budget)
                for key, (stype, numel) in refs.items()
            }
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use another copy") from None
    except Exception as e:  # zipfile/zlib: bad CRC, truncated archive, missing member
        raise damaged(path, WHAT, f"{type(e).__name__}: {e}".splitlines()[0][:200]) from None
    if order not in (b"little", b"big"):
        raise damaged(path, WHAT, f"byteorder record {order[:20]!r}")
    if order == b"big":
        for v in storages.values():
            v.byteswap(inplace=True)
    return obj, storages


class _Expansion:
    """How many bytes the members read so far may still decompress to (see MAX_EXPANSION)."""

    def __init__(self, archive_size, path):
        self.left, self.path = MAX_EXPANSION * archive_size + EXPANSION_FLOOR, path

    def spend(self, info):
        self.left -= info.file_size
        if self.left < 0:
            raise damaged(self.path, WHAT, f"its members decompress to more than {MAX_EXPANSION}x its size")


def _byteorder(zf, name, names):
    if name not in names:
        return b"little"
    with zf.open(name) as fh:
        return fh.read(16).strip()  # b"little" or b"big"; a forged member could be any size


def _storage_id(pid, length, seen):
    """(storage type, key, numel) of a persistent id ('storage', type, key, location, numel[, view]) of
    `length` items; `seen` (key -> (type, numel)) makes sure a storage is described one way only."""
    if not (
        isinstance(pid, tuple)
        and len(pid) == length
        and pid[0] == "storage"
        and isinstance(pid[1], StorageType)
        and type(pid[2]) is str
    ):
        raise ValueError(f"unknown persistent id {short(pid)}")
    stype, key, numel = pid[1], pid[2], nonneg_int(pid[4], "storage size")
    if seen.setdefault(key, (stype, numel)) != (stype, numel):
        raise ValueError(f"storage {short(key)} is described twice, differently")
    return stype, key, numel


def _zip_persistent_load(refs):
    def load(pid):  # ('storage', storage type, key, location, numel)
        stype, key, numel = _storage_id(pid, 5, refs)
        return StorageRef(key, stype, 0, numel)

    return load


def _zip_storage(zf, name, stype, numel, path, budget):
    info = zf.getinfo(name)
    nbytes = numel * stype.dtype.itemsize
    # a deflated member could claim any size; deflate never expands more than ~1032x
    if (
        nbytes > info.file_size
        or info.file_size > max(1032 * info.compress_size, 1 << 16)
        or nbytes > MAX_OUTPUT_BYTES
    ):
        raise damaged(path, WHAT, f"{short(name)} holds {info.file_size} bytes, the tensors need {nbytes}")
    budget.spend(info)
    out = np.empty(numel, stype.dtype)
    view, got = memoryview(out).cast("B"), 0
    with zf.open(info) as fh:  # in slices: a zip member's readinto would first copy it whole
        while got < nbytes:
            n = fh.readinto(view[got : got + READ_SLICE])
            if not n:
                raise damaged(path, WHAT, f"{short(name)} is truncated")
            got += n
    return out


# ------------------------------------------------------------------------------------------ legacy format
def _load_legacy(path, size):
    with open(path, "rb") as raw:
        f = BoundedReader(raw, size)
        magic = safe_load(f, path, WHAT)
        if magic != LEGACY_MAGIC:
            raise UserError(
                f"{path} is not a PyTorch checkpoint (no zip archive, no legacy magic number); "
                "give the .pth file as published"
            )
        protocol, sys_info = safe_load(f, path, WHAT), safe_load(f, path, WHAT)
        if protocol != LEGACY_PROTOCOL or not isinstance(sys_info, dict):
            raise damaged(path, WHAT, f"legacy protocol {short(protocol)}, expected {LEGACY_PROTOCOL}")
        if sys_info.get("little_endian", True) is not True:  # torch itself cannot read these either
            raise UserError(
                f"{path} was saved by an old torch on a big-endian machine, which scratchdream "
                "does not read; re-save it with a current torch on a little-endian one"
            )
        roots, views = {}, {}
        obj = safe_load(f, path, WHAT, ALLOWED, _legacy_persistent_load(roots, views))
        keys = safe_load(f, path, WHAT)
        if (
            not isinstance(keys, list)
            or not all(type(k) is str for k in keys)
            or sorted(keys) != sorted(roots)
        ):
            raise damaged(path, WHAT, "the storage list does not match the tensors")
        storages = {key: _legacy_storage(raw, f, roots[key], path) for key in keys}
    return obj, storages


def _legacy_persistent_load(roots, views):
    def load(pid):  # ('storage', storage type, root key, location, numel, view or None)
        stype, key, numel = _storage_id(pid, 6, roots)
        view = pid[5]
        if view is None:
            return StorageRef(key, stype, 0, numel)
        if not (isinstance(view, tuple) and len(view) == 3 and type(view[0]) is str):
            raise ValueError(f"storage view {short(view)} is not (key, offset, size)")
        vkey, offset, vnumel = view  # (view key, element offset, view numel)
        offset, vnumel = nonneg_int(offset, "view offset"), nonneg_int(vnumel, "view size")
        if offset + vnumel > numel:
            raise ValueError(f"storage view {short(vkey)} runs past its storage")
        return views.setdefault(vkey, StorageRef(key, stype, offset, vnumel))

    return load


def _legacy_storage(raw, f, root, path):
    stype, numel = root
    head = raw.read(8)
    if len(head) != 8:
        raise damaged(path, WHAT, "truncated before a storage")
    count = struct.unpack("<q", head)[0]
    nbytes = count * stype.dtype.itemsize
    if count != numel or nbytes > f.remaining():
        raise damaged(
            path,
            WHAT,
            f"a storage claims {count} elements, expected {numel} "
            f"with {f.remaining()} bytes left (truncated?)",
        )
    out = np.empty(numel, stype.dtype)
    if nbytes and raw.readinto(memoryview(out).cast("B")) != nbytes:
        raise damaged(path, WHAT, "truncated inside a storage")
    return out


# ------------------------------------------------------------------------------------------ tensors
def _find_state_dict(obj, path):
    """The dict of tensors: a training script's wrapper {'state_dict': ...} / {'model': ...} (beside such
    entries as epoch, arch and best_prec1, which may itself be a tensor), else the object itself."""
    if isinstance(obj, dict):
        for k in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(k)
            if isinstance(inner, dict) and any(isinstance(v, TensorRef) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict) or not any(isinstance(v, TensorRef) for v in obj.values()):
        raise UserError(
            f"{path} holds no state_dict of tensors (found {type(obj).__name__}); "
            "save the model's state_dict(), not the model object"
        )
    return obj


def _materialize(state, storages, path, file_size):
    """TensorRefs -> numpy arrays; every window is checked to lie inside its storage."""
    out, budget = OrderedDict(), max(8 * file_size, 1 << 24)  # views may repeat storage bytes, within reason
    users = {}
    for t in state.values():
        if isinstance(t, TensorRef) and t.storage is not None:
            users[t.storage.key] = users.get(t.storage.key, 0) + 1
    for name, t in state.items():  # names are str: pickle_safe refuses any other key
        if not isinstance(t, TensorRef):
            continue  # e.g. a stray int; a state_dict holds only tensors
        if t.storage is None:
            raise damaged(path, WHAT, f"tensor {short(name)} has no data")
        budget -= int(np.prod(t.size, dtype=object)) * t.storage.stype.dtype.itemsize
        if budget < 0:  # checked before allocating: stride-0 views cost no file bytes
            raise damaged(
                path, WHAT, f"its tensors (up to {short(name)}) add up to far more than the file holds"
            )
        try:
            arr = window(storages[t.storage.key], t, users[t.storage.key] == 1)
        except ValueError as e:
            raise damaged(path, WHAT, f"tensor {short(name)}: {e}") from None
        if t.storage.stype.name == "BFloat16":  # bfloat16 = the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out
