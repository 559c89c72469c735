"""PyTorch .pth checkpoints, read without torch (formats in ZOO.md 5.1-5.2).

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
The pickles are read by pickle_safe with the stand-ins below: no code from the file ever runs.
"""
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from . import MAX_OUTPUT_BYTES, check_file, damaged
from .pickle_safe import BoundedReader, safe_load
from ...errors import UserError

WHAT = "PyTorch checkpoint"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_PICKLE_BYTES = 256 << 20           # data.pkl holds names and shapes only; the numbers live elsewhere
MAX_NDIM = 16
READ_SLICE = 16 << 20

STORAGE_DTYPES = {"Float": "<f4", "Double": "<f8", "Half": "<f2", "BFloat16": "<u2", "Long": "<i8", "Int": "<i4",
                  "Short": "<i2", "Char": "i1", "Byte": "u1", "Bool": "?", "Untyped": "u1"}


class _Sealed:
    """Stand-ins refuse pickle's BUILD: a forged state could otherwise overwrite their checked fields."""

    def __setstate__(self, state):
        raise ValueError(f"the pickle tries to change a {type(self).__name__}")


class StorageType(_Sealed):
    """Stand-in for torch.FloatStorage & co.: only names an element type."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}Storage"


class StorageRef(_Sealed):
    """A window of `numel` elements at element `offset` of the file's storage `key`."""

    def __init__(self, key, stype, offset, numel):
        self.key, self.stype, self.offset, self.numel = key, stype, offset, numel


class TensorRef(_Sealed):
    """What a pickled tensor becomes here: a storage window and a shape; numbers are read later."""
    storage = None

    def set(self, storage, offset, size, stride):
        if not isinstance(storage, StorageRef):
            raise ValueError("a tensor refers to something that is not a storage")
        size, stride = _ints(size, "size"), _ints(stride, "stride")
        if len(size) != len(stride) or len(size) > MAX_NDIM:
            raise ValueError(f"tensor size {size} and stride {stride} do not match")
        self.storage, self.offset, self.size, self.stride = storage, _int(offset, "offset"), size, stride
        return self


class LegacyTensor(TensorRef):
    """Stand-in for torch.FloatTensor & co. in old pickles: NEWOBJ, then BUILD with the state."""

    def __setstate__(self, state):
        if not isinstance(state, tuple):
            raise ValueError("legacy tensor state is not a tuple")
        if len(state) == 4:                           # (storage, offset, size, stride)
            self.set(*state)
        elif len(state) == 5 and isinstance(state[0], TensorRef):     # old Variable: (data, ...)
            d = state[0]
            self.set(d.storage, d.offset, d.size, d.stride)
        elif len(state) != 3:                         # (requires_grad, _, hooks) carries no data
            raise ValueError(f"legacy tensor state of length {len(state)}")


def _rebuild_tensor(storage, storage_offset, size, stride, *_):    # *_: requires_grad, hooks, metadata
    return TensorRef().set(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_):                                 # requires_grad, hooks[, state]
    if not isinstance(data, TensorRef):
        raise ValueError("a parameter wraps something that is not a tensor")
    return data


class _Call(_Sealed):
    """A stand-in function a pickle may call (REDUCE) but not modify: BUILD on a plain function could
    set its __defaults__ for every later load in this process."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


def _allowed_globals():
    """The only names a checkpoint may mention, each mapped to a harmless stand-in."""
    allowed = {("collections", "OrderedDict"): OrderedDict,      # C types: a pickle cannot change them
               ("torch", "Size"): tuple,
               ("torch._utils", "_rebuild_tensor"): _Call(_rebuild_tensor),
               ("torch._utils", "_rebuild_tensor_v2"): _Call(_rebuild_tensor),
               ("torch._utils", "_rebuild_parameter"): _Call(_rebuild_parameter),
               ("torch._utils", "_rebuild_parameter_with_state"): _Call(_rebuild_parameter)}
    for name in STORAGE_DTYPES:
        for module in ("torch", "torch.cuda"):        # old GPU checkpoints name torch.cuda.FloatStorage
            allowed[(module, f"{name}Storage")] = StorageType(name)
            if name != "Untyped":
                allowed[(module, f"{name}Tensor")] = LegacyTensor
    return allowed


ALLOWED = _allowed_globals()


def load_state_dict(path):
    """A .pth file -> OrderedDict {name: np.ndarray} (bfloat16 comes back as float32; other dtypes as stored)."""
    size = check_file(path, WHAT)
    with open(path, "rb") as f:
        head = f.read(262)
    if head[:4] == b"PK\x03\x04":
        obj, storages = _load_zip(path)
    elif head[257:262] == b"ustar":
        raise UserError(f"{path} is in PyTorch's oldest (tar) checkpoint format, which scratchdream does not read; "
                        "re-save it with torch: torch.save(torch.load(f), 'new.pth'), or fetch the current file")
    else:
        obj, storages = _load_legacy(path, size)
    return _materialize(_find_state_dict(obj, path), storages, path, size)


# ------------------------------------------------------------------------------------------ zip format
def _load_zip(path):
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            top = names[0].split("/")[0] if names and "/" in names[0] else None
            if top is None or f"{top}/data.pkl" not in names:
                raise UserError(f"{path} is a zip file but not a PyTorch checkpoint (no <folder>/data.pkl); "
                                "give the .pth file as published")
            pkl = zf.getinfo(f"{top}/data.pkl")
            if pkl.file_size > MAX_PICKLE_BYTES:
                raise damaged(path, WHAT, f"data.pkl claims {pkl.file_size} bytes")
            order = zf.read(f"{top}/byteorder").strip() if f"{top}/byteorder" in names else b"little"
            refs = {}
            obj = safe_load(zf.read(pkl), path, WHAT, ALLOWED, _zip_persistent_load(refs))
            storages = {key: _zip_storage(zf, f"{top}/data/{key}", stype, numel, path)
                        for key, (stype, numel) in refs.items()}
    except UserError:
        raise
    except Exception as e:              # zipfile/zlib: bad CRC, truncated archive, missing member
        raise damaged(path, WHAT, f"{type(e).__name__}: {e}".splitlines()[0][:200]) from None
    if order not in (b"little", b"big"):
        raise damaged(path, WHAT, f"byteorder record {order[:20]!r}")
    if order == b"big":
        for v in storages.values():
            v.byteswap(inplace=True)
    return obj, storages


def _zip_persistent_load(refs):
    def load(pid):            # ('storage', storage type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], StorageType)):
            raise ValueError(f"unknown persistent id {str(pid)[:80]}")
        _, stype, key, _, numel = pid
        key, numel = str(key), _int(numel, "storage size")
        if refs.setdefault(key, (stype, numel)) != (stype, numel):
            raise ValueError(f"storage {key} is described twice, differently")
        return StorageRef(key, stype, 0, numel)
    return load


def _zip_storage(zf, name, stype, numel, path):
    info = zf.getinfo(name)
    nbytes = numel * stype.dtype.itemsize
    # a deflated member could claim any size; deflate never expands more than ~1032x
    if nbytes > info.file_size or info.file_size > max(1032 * info.compress_size, 1 << 16) or nbytes > MAX_OUTPUT_BYTES:
        raise damaged(path, WHAT, f"{name} holds {info.file_size} bytes, the tensors need {nbytes}")
    out = np.empty(numel, stype.dtype)
    view, got = memoryview(out).cast("B"), 0
    with zf.open(info) as fh:             # in slices: a zip member's readinto would first copy it whole
        while got < nbytes:
            n = fh.readinto(view[got:got + READ_SLICE])
            if not n:
                raise damaged(path, WHAT, f"{name} is truncated")
            got += n
    return out


# ------------------------------------------------------------------------------------------ legacy format
def _load_legacy(path, size):
    with open(path, "rb") as raw:
        f = BoundedReader(raw, size)
        magic = safe_load(f, path, WHAT)
        if magic != LEGACY_MAGIC:
            raise UserError(f"{path} is not a PyTorch checkpoint (no zip archive, no legacy magic number); "
                            "give the .pth file as published")
        protocol, sys_info = safe_load(f, path, WHAT), safe_load(f, path, WHAT)
        if protocol != LEGACY_PROTOCOL or not isinstance(sys_info, dict):
            raise damaged(path, WHAT, f"legacy protocol {protocol!r}, expected {LEGACY_PROTOCOL}")
        if sys_info.get("little_endian", True) is not True:     # torch itself cannot read these either
            raise UserError(f"{path} was saved by an old torch on a big-endian machine, which scratchdream "
                            "does not read; re-save it with a current torch on a little-endian one")
        roots, views = {}, {}
        obj = safe_load(f, path, WHAT, ALLOWED, _legacy_persistent_load(roots, views))
        keys = safe_load(f, path, WHAT)
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(roots):
            raise damaged(path, WHAT, "the storage list does not match the tensors")
        storages = {str(key): _legacy_storage(raw, f, roots[str(key)], path) for key in keys}
    return obj, storages


def _legacy_persistent_load(roots, views):
    def load(pid):            # ('storage', storage type, root key, location, numel, view or None)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], StorageType)):
            raise ValueError(f"unknown persistent id {str(pid)[:80]}")
        _, stype, key, _, numel, view = pid
        key, numel = str(key), _int(numel, "storage size")
        if roots.setdefault(key, (stype, numel)) != (stype, numel):
            raise ValueError(f"storage {key} is described twice, differently")
        if view is None:
            return StorageRef(key, stype, 0, numel)
        vkey, offset, vnumel = view                   # (view key, element offset, view numel)
        offset, vnumel = _int(offset, "view offset"), _int(vnumel, "view size")
        if offset + vnumel > numel:
            raise ValueError(f"storage view {vkey} runs past its storage")
        return views.setdefault(str(vkey), StorageRef(key, stype, offset, vnumel))
    return load


def _legacy_storage(raw, f, root, path):
    stype, numel = root
    head = raw.read(8)
    if len(head) != 8:
        raise damaged(path, WHAT, "truncated before a storage")
    count = struct.unpack("<q", head)[0]
    nbytes = count * stype.dtype.itemsize
    if count != numel or nbytes > f.remaining():
        raise damaged(path, WHAT, f"a storage claims {count} elements, expected {numel} "
                                  f"with {f.remaining()} bytes left (truncated?)")
    out = np.empty(numel, stype.dtype)
    if nbytes and raw.readinto(memoryview(out).cast("B")) != nbytes:
        raise damaged(path, WHAT, "truncated inside a storage")
    return out


# ------------------------------------------------------------------------------------------ tensors
def _find_state_dict(obj, path):
    """The dict of tensors: the object itself, or a common wrapper {'state_dict': ...} / {'model': ...}."""
    if isinstance(obj, dict) and not any(isinstance(v, TensorRef) for v in obj.values()):
        for k in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not any(isinstance(v, TensorRef) for v in obj.values()):
        raise UserError(f"{path} holds no state_dict of tensors (found {type(obj).__name__}); "
                        "save the model's state_dict(), not the model object")
    return obj


def _materialize(state, storages, path, file_size):
    """TensorRefs -> numpy arrays; every window is checked to lie inside its storage."""
    out, budget = OrderedDict(), max(8 * file_size, 1 << 24)     # views may repeat storage bytes, within reason
    users = {}
    for t in state.values():
        if isinstance(t, TensorRef) and t.storage is not None:
            users[t.storage.key] = users.get(t.storage.key, 0) + 1
    for name, t in state.items():
        if not isinstance(t, TensorRef):
            continue                                  # e.g. a stray int; a state_dict holds only tensors
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        if t.storage is None:
            raise damaged(path, WHAT, f"tensor {name} has no data")
        budget -= int(np.prod(t.size, dtype=object)) * t.storage.stype.dtype.itemsize
        if budget < 0:                                # checked before allocating: stride-0 views cost no file bytes
            raise damaged(path, WHAT, f"its tensors (up to {name}) add up to far more than the file holds")
        arr = _window(storages[t.storage.key], t, users[t.storage.key] == 1, name, path)
        if t.storage.stype.name == "BFloat16":        # bfloat16 = the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def _window(flat, t, sole_user, name, path):
    """storage[offset + sum_k i_k * stride_k] as an array of shape t.size: the storage itself when the
    tensor is its only user and covers it in order, otherwise a copy (so no two arrays share memory)."""
    s = t.storage
    offset = s.offset + t.offset
    numel = int(np.prod(t.size, dtype=object))
    last = offset + sum((n - 1) * st for n, st in zip(t.size, t.stride))
    if numel and last >= s.offset + s.numel:
        raise damaged(path, WHAT, f"tensor {name} (size {t.size}, stride {t.stride}, offset {t.offset}) "
                                  f"reaches outside its storage of {s.numel} elements")
    if not numel:
        return np.zeros(t.size, flat.dtype)
    if sole_user and offset == 0 and numel == flat.size and t.stride == _contiguous(t.size):
        return flat.reshape(t.size)
    item = flat.dtype.itemsize
    return np.lib.stride_tricks.as_strided(flat[offset:], t.size, [st * item for st in t.stride]).copy()


def _contiguous(size):
    """Row-major strides in elements, as torch writes them (size-1 dims keep the product rule too)."""
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _int(v, what):
    if type(v) is not int:
        raise ValueError(f"{what} is {type(v).__name__}, not an integer")
    if v < 0:
        raise ValueError(f"{what} is negative")
    return v


def _ints(v, what):
    if not isinstance(v, tuple):
        raise ValueError(f"tensor {what} is {type(v).__name__}, not a tuple")
    return tuple(_int(x, what) for x in v)
