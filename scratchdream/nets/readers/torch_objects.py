"""What a pickled PyTorch tensor becomes here: harmless stand-ins for the few torch names a checkpoint uses.

A checkpoint's pickle names torch.FloatStorage, torch._utils._rebuild_tensor_v2 and friends. pickle_safe
gives it these objects instead, which only record what the file says:
    StorageType   torch.<X>Storage: an element type (FloatStorage -> float32, LongStorage -> int64, ...)
    StorageRef    a persistent id resolved: `numel` elements at `offset` of the file's storage `key`
    TensorRef     _rebuild_tensor_v2(storage, offset, size, stride, ...): a strided window, read later
    LegacyTensor  torch.FloatTensor in pre-1.0 pickles: NEWOBJ, then BUILD((storage, offset, size, stride))
Every stand-in refuses BUILD (except LegacyTensor's checked one) and validates its arguments, so a forged
pickle can neither reach other code nor slip unchecked numbers past `window`.
"""

from collections import OrderedDict

import numpy as np

MAX_NDIM = 16

STORAGE_DTYPES = {
    "Float": "<f4",
    "Double": "<f8",
    "Half": "<f2",
    "BFloat16": "<u2",
    "Long": "<i8",
    "Int": "<i4",
    "Short": "<i2",
    "Char": "i1",
    "Byte": "u1",
    "Bool": "?",
    "Untyped": "u1",
}


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
        size, stride = nonneg_ints(size, "size"), nonneg_ints(stride, "stride")
        if len(size) != len(stride) or len(size) > MAX_NDIM:
            raise ValueError(f"tensor size {size} and stride {stride} do not match")
        self.storage, self.offset, self.size, self.stride = (
            storage,
            nonneg_int(offset, "offset"),
            size,
            stride,
        )
        return self


class LegacyTensor(TensorRef):
    """Stand-in for torch.FloatTensor & co. in old pickles: NEWOBJ, then BUILD with the state."""

    def __setstate__(self, state):
        if not isinstance(state, tuple):
            raise ValueError("legacy tensor state is not a tuple")
        if len(state) == 4:  # (storage, offset, size, stride)
            self.set(*state)
        elif len(state) == 5 and isinstance(state[0], TensorRef):  # old Variable: (data, ...)
            d = state[0]
            self.set(d.storage, d.offset, d.size, d.stride)
        elif len(state) != 3:  # (requires_grad, _, hooks) carries no data
            raise ValueError(f"legacy tensor state of length {len(state)}")


def _rebuild_tensor(storage, storage_offset, size, stride, *_):  # *_: requires_grad, hooks, metadata
    return TensorRef().set(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_):  # requires_grad, hooks[, state]
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


def _ordered_dict(*args):
    """collections.OrderedDict as checkpoints call it: with no arguments (torch; the items follow by
    SETITEMS, whose keys pickle_safe checks are strings) or, in Python 2 pickles, with one list of
    [key, value] pairs. Keys must be strings here too: OrderedDict(pairs) would hash any key."""
    out = OrderedDict()
    if not args:
        return out
    if len(args) != 1 or not isinstance(args[0], (list, tuple)):
        raise ValueError("the pickle builds an OrderedDict from arguments other than a list of pairs")
    for pair in args[0]:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or type(pair[0]) is not str:
            raise ValueError("an OrderedDict item in the pickle is not a (string, value) pair")
        out[pair[0]] = pair[1]
    return out


def _allowed_globals():
    """The only names a checkpoint may mention, each mapped to a harmless stand-in."""
    allowed = {
        ("collections", "OrderedDict"): _Call(_ordered_dict),
        ("torch", "Size"): tuple,  # a C type: a pickle cannot change it
        ("torch._utils", "_rebuild_tensor"): _Call(_rebuild_tensor),
        ("torch._utils", "_rebuild_tensor_v2"): _Call(_rebuild_tensor),
        ("torch._utils", "_rebuild_parameter"): _Call(_rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state"): _Call(_rebuild_parameter),
    }
    for name in STORAGE_DTYPES:
        for module in ("torch", "torch.cuda"):  # old GPU checkpoints name torch.cuda.FloatStorage
            allowed[(module, f"{name}Storage")] = StorageType(name)
            if name != "Untyped":
                allowed[(module, f"{name}Tensor")] = LegacyTensor
    return allowed


ALLOWED = _allowed_globals()


# ------------------------------------------------------------------------------------------ tensors
def window(flat, t, sole_user):
    """storage[offset + sum_k i_k * stride_k] as an array of shape t.size: the storage itself when the
    tensor is its only user and covers it in order, otherwise a copy (so no two arrays share memory).
    flat: the whole storage as a 1-D array. ValueError when the window reaches outside the storage."""
    s = t.storage
    offset = s.offset + t.offset
    numel = int(np.prod(t.size, dtype=object))
    last = offset + sum((n - 1) * st for n, st in zip(t.size, t.stride))
    if numel and last >= s.offset + s.numel:
        raise ValueError(
            f"size {t.size}, stride {t.stride}, offset {t.offset} reaches outside its storage "
            f"of {s.numel} elements"
        )
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


def nonneg_int(v, what):
    if type(v) is not int:
        raise ValueError(f"{what} is {type(v).__name__}, not an integer")
    if v < 0:
        raise ValueError(f"{what} is negative")
    return v


def nonneg_ints(v, what):
    if not isinstance(v, tuple):
        raise ValueError(f"tensor {what} is {type(v).__name__}, not a tuple")
    return tuple(nonneg_int(x, what) for x in v)
