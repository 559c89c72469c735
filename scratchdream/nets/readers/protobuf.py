"""The protobuf wire format, decoded by hand: just enough to read a .caffemodel.

A message is a run of fields. Each field starts with a varint key = (field_number << 3) | wire_type:
    0 varint (7 bits a byte, low bits first; int32/int64/bool/enum)   1 fixed64 (double)
    2 length-delimited (varint length, then bytes: strings, sub-messages, packed repeated scalars)
    5 fixed32 (float)
A repeated scalar arrives either packed (one wire-type-2 field holding all values) or one field per
value; both are accepted. Unknown fields are skipped, as protobuf requires.

`decode(buf, schema)` turns one message into a dict, guided by a schema {field: (name, kind)}; a
kind that is itself a dict is a sub-message. Schemas never refer to themselves, so decoding depth is
bounded by the schema, never by the file. Every length is checked against the bytes that remain.
Damage raises WireError (a ValueError); the format readers turn it into one UserError line.
"""

import numpy as np

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf, pos, end):
    """-> (value, next pos); at most 10 bytes, as a 64-bit varint is."""
    value = shift = 0
    for i in range(pos, min(pos + 10, end)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, i + 1
        shift += 7
    raise WireError(f"varint at byte {pos} runs past the end or over 10 bytes")


def fields(buf, start=0, end=None):
    """Yield (field_number, wire_type, value) over buf[start:end]. value: int for varints,
    a memoryview of 4/8/n bytes for fixed32/fixed64/length-delimited."""
    buf = memoryview(buf)
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wtype = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wtype == VARINT:
            value, pos = read_varint(buf, pos, end)
        elif wtype in (FIXED32, FIXED64, LEN):
            if wtype == LEN:
                size, pos = read_varint(buf, pos, end)
            else:
                size = 4 if wtype == FIXED32 else 8
            if size > end - pos:
                raise WireError(f"field {number} claims {size} bytes, only {end - pos} remain")
            value, pos = buf[pos : pos + size], pos + size
        else:  # 3/4 are the long-deprecated groups; nothing of ours uses them
            raise WireError(f"wire type {wtype} (field {number}) at byte {pos}")
        yield number, wtype, value


def signed(v, bits=64):
    """Two's complement: int32/int64 fields travel as 64-bit varints."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def packed_varints(chunk):
    """All varints of one packed field."""
    out, pos, end = [], 0, len(chunk)
    while pos < end:
        v, pos = read_varint(chunk, pos, end)
        out.append(v)
    return out


_SCALAR = {  # kind -> (wire type one value arrives in, numpy dtype of a packed run or None for varints)
    "int": (VARINT, None),
    "uint": (VARINT, None),
    "bool": (VARINT, None),
    "enum": (VARINT, None),
    "float": (FIXED32, "<f4"),
    "double": (FIXED64, "<f8"),
}


def _scalars(kind, wtype, value, number):
    """The values one field contributes to a scalar field (several if packed)."""
    one_wire, dtype = _SCALAR[kind]
    if wtype == LEN:  # packed
        if dtype is None:
            vals = packed_varints(value)
        else:
            if len(value) % np.dtype(dtype).itemsize:
                raise WireError(f"packed field {number} has {len(value)} bytes, not a whole number of values")
            return [np.frombuffer(value, dtype)]
    elif wtype == one_wire:
        if dtype is not None:
            return [np.frombuffer(value, dtype)]
        vals = [value]
    else:
        raise WireError(f"field {number} has wire type {wtype}, expected {one_wire} or packed")
    if kind == "int":
        return [signed(v) for v in vals]
    if kind == "bool":
        return [bool(v) for v in vals]
    return vals


def decode(buf, schema):
    """One message -> dict {name: value}; a name ending in '[]' is repeated (a list).
    A repeated float/double field comes back as one native-order numpy array, not a list of floats."""
    out = {}
    for number, wtype, value in fields(buf):
        if number not in schema:
            continue  # unknown field: skip, as protobuf does
        name, kind = schema[number]
        repeated = name.endswith("[]")
        key = name[:-2] if repeated else name
        if isinstance(kind, dict) or kind in ("string", "bytes"):
            if wtype != LEN:
                raise WireError(f"field {number} ({key}) has wire type {wtype}, expected 2")
            if isinstance(kind, dict):
                got = [decode(value, kind)]
            elif kind == "string":
                got = [_text(value, number)]
            else:
                got = [bytes(value)]
        else:
            got = _scalars(kind, wtype, value, number)
        if repeated:
            out.setdefault(key, []).extend(got)
        elif got:  # a singular field: the last value wins
            last = got[-1]
            if isinstance(last, np.ndarray):
                if len(last):
                    out[key] = float(last[-1])
            else:
                out[key] = last
    for key, val in out.items():
        if val and isinstance(val, list) and isinstance(val[0], np.ndarray):
            arr = np.concatenate(val) if len(val) > 1 else val[0]
            out[key] = arr.astype(arr.dtype.newbyteorder("="))  # owns its memory, native byte order
    return out


def _text(value, number):
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"field {number} is not valid UTF-8 text") from None
