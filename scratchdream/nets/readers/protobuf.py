"""The protobuf wire format, decoded by hand: just enough to read a .caffemodel.

A message is a run of fields. Each field starts with a varint key = (field_number << 3) | wire_type:
    0 varint (7 bits a byte, low bits first; int32/int64/bool/enum)   1 fixed64 (double)
    2 length-delimited (varint length, then bytes: strings, sub-messages, packed repeated scalars)
    5 fixed32 (float)
A repeated scalar arrives either packed (one wire-type-2 field holding all values) or one field per
value; both are accepted. Unknown fields are skipped, as protobuf requires.

`decode(buf, schema)` turns one message into a dict, guided by a schema {field: (name, kind[, most])};
a kind that is itself a dict is a sub-message; "view" keeps a length-delimited field as a memoryview of
the buffer, undecoded and uncopied (a message read later, or packed numbers read by numpy); `most` caps
how many values a repeated field may hold.
Schemas never refer to themselves, so decoding depth is bounded by the schema, never by the file.
Every length is checked against the bytes that remain, and the cost is linear in the bytes: each field
is read once, skipped fields cost nothing but the reading, float runs are copied once, and every
repeated field that builds Python objects (strings, sub-messages, integers) carries a cap, so a file
cannot turn 2-byte fields into millions of objects. Damage raises WireError (a ValueError); the format
readers turn it into one UserError line.
"""

import numpy as np

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf, pos, end):
    """-> (value, next pos); at most 10 bytes, as a 64-bit varint is."""
    if pos < end and buf[pos] < 0x80:  # one byte: most keys and small numbers
        return buf[pos], pos + 1
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
        key = buf[pos]
        if key < 0x80:  # a one-byte key: fields 1-15, the common case
            pos += 1
        else:
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


def packed_varints(chunk, most=None):
    """All varints of one packed field; WireError past `most` of them."""
    out, pos, end = [], 0, len(chunk)
    while pos < end:
        v, pos = read_varint(chunk, pos, end)
        out.append(v)
        if most is not None and len(out) > most:
            raise WireError(f"a packed field holds more than {most} values")
    return out


_FLOATS = {"float": (FIXED32, np.dtype("<f4")), "double": (FIXED64, np.dtype("<f8"))}  # one value's wire


def _varints(kind, wtype, value, number, most):
    """The values one field contributes to an integer field (several if packed, at most `most`)."""
    if wtype == LEN:
        vals = packed_varints(value, most)
    elif wtype == VARINT:
        vals = [value]
    else:
        raise WireError(f"field {number} has wire type {wtype}, expected {VARINT} or packed")
    if kind == "int":
        return [signed(v) for v in vals]
    if kind == "bool":
        return [bool(v) for v in vals]
    return vals


def _add_floats(runs, kind, wtype, value, number):
    """Keep the bytes of one float/double field: a packed run as it lies in the buffer, single values
    gathered into one bytearray (one numpy array per value would cost ~100 bytes for every 5 of file)."""
    one_wire, dtype = _FLOATS[kind]
    if wtype == one_wire and runs and isinstance(runs[-1], bytearray):  # the common case first
        runs[-1] += value
    elif wtype == LEN:
        if len(value) % dtype.itemsize:
            raise WireError(f"packed field {number} has {len(value)} bytes, not a whole number of values")
        runs.append(value)
    elif wtype != one_wire:
        raise WireError(f"field {number} has wire type {wtype}, expected {one_wire} or packed")
    else:
        runs.append(bytearray(value))


_TABLES = {}


def _fields_of(schema):
    """schema {number: (name, kind[, most])} -> {number: (key, kind, repeated, most)}, worked out once."""
    if id(schema) not in _TABLES:
        table = {}
        for number, (name, kind, *most) in schema.items():
            repeated = name.endswith("[]")
            table[number] = (name[:-2] if repeated else name, kind, repeated, most[0] if most else None)
        _TABLES[id(schema)] = schema, table  # the schema is kept too, so its id is never reused
    return _TABLES[id(schema)][1]


def decode(buf, schema):
    """One message -> dict {name: value}; a name ending in '[]' is repeated (a list).
    A repeated float/double field comes back as one native-order numpy array, not a list of floats."""
    out, floats, table = {}, {}, _fields_of(schema)
    for number, wtype, value in fields(buf):
        field = table.get(number)
        if field is None:
            continue  # unknown field: skip, as protobuf does
        key, kind, repeated, most = field
        if kind in ("float", "double"):
            runs = floats.get(key)
            if runs is None:
                runs = floats[key] = (kind, repeated, [])
            _add_floats(runs[2], kind, wtype, value, number)
            continue
        if isinstance(kind, dict) or kind in ("string", "bytes", "view"):
            if wtype != LEN:
                raise WireError(f"field {number} ({key}) has wire type {wtype}, expected 2")
            if isinstance(kind, dict):
                got = [decode(value, kind)]
            elif kind == "string":
                got = [_text(value, number)]
            elif kind == "view":
                got = [value]
            else:
                got = [bytes(value)]
        else:
            got = _varints(kind, wtype, value, number, most if repeated else 1)
        if repeated:
            values = out.setdefault(key, [])
            values.extend(got)
            if most is not None and len(values) > most:
                raise WireError(
                    f"more than {most:,} {key!r} fields in one message, more than any real network has"
                )
        elif got:  # a singular field: the last value wins
            out[key] = got[-1]
    for key, (kind, repeated, runs) in floats.items():
        arr = np.frombuffer(runs[0] if len(runs) == 1 else b"".join(runs), _FLOATS[kind][1])
        if repeated:
            out[key] = arr.astype(arr.dtype.newbyteorder("="))  # owns its memory, native byte order
        elif len(arr):  # a singular field: the last value wins
            out[key] = float(arr[-1])
    return out


def _text(value, number):
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"field {number} is not valid UTF-8 text") from None
