"""The damage both fuzzers do to a good file: one edit at a time, as a bad download, a full disk or a
forger would (bit flips, byte sets, inserts, deletes, duplicated runs, truncation, a length made huge)."""

OPS = ("flip", "set", "insert", "delete", "dup", "truncate", "big")


def apply_edit(b, op, pos, value, n):
    """Edit the bytearray b in place: op one of OPS, pos any int (wrapped into 0..len(b)), value a byte,
    n >= 1."""
    pos = pos % (len(b) + 1)
    if op == "flip" and pos < len(b):
        b[pos] ^= 1 << (value % 8)
    elif op == "set" and pos < len(b):
        b[pos] = value
    elif op == "insert":
        b[pos:pos] = bytes([value]) * n
    elif op == "delete":
        del b[pos : pos + n]
    elif op == "dup":
        b[pos:pos] = b[pos : pos + n]
    elif op == "truncate":
        del b[pos:]
    elif op == "big":  # a length-looking field made enormous
        b[pos : pos + 4] = b"\xff\xff\xff\x7f"
