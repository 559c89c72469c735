"""Unpickling untrusted files without running their code.

A pickle is a small stack-machine program. Its GLOBAL / STACK_GLOBAL instructions name any Python
function (`os system`), and REDUCE calls it with arguments from the stack: loading a pickle can run
anything. A weights checkpoint needs none of that: only a dict, tuples, ints, strings, and a few
named "rebuild a tensor" functions. So this reader

1. first walks the instructions without executing them (`prescan`, with pickletools.genops):
   every opcode must be one a checkpoint uses (no EXT*, INST, OBJ, buffers), every GLOBAL must be on
   the caller's allowlist, every length must fit in the bytes that remain, and memo indices must stay
   small (the C unpickler would otherwise allocate what a forged length or index asks for);
2. then unpickles with a `pickle.Unpickler` whose `find_class` returns the caller's harmless
   stand-ins for the allowed names and refuses every other name (STACK_GLOBAL ends up there too).
Nothing from the file is ever imported or called.
"""

import io
import pickle
import pickletools

from ...errors import UserError

ALLOWED_OPCODES = frozenset(
    """
    PROTO FRAME STOP MARK POP POP_MARK DUP
    INT BININT BININT1 BININT2 LONG LONG1 LONG4 NONE NEWTRUE NEWFALSE FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    BINBYTES SHORT_BINBYTES BINBYTES8
    EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET
    PUT BINPUT LONG_BINPUT GET BINGET LONG_BINGET MEMOIZE
    GLOBAL STACK_GLOBAL REDUCE BUILD NEWOBJ BINPERSID
""".split()
)
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}


class Refused(Exception):
    """The pickle names a global that is not on the allowlist."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


class BoundedReader:
    """A file view whose reads never ask for more than the bytes that remain (no forged-size allocation)."""

    def __init__(self, f, size):
        self.f, self.size = f, size

    def remaining(self):
        return self.size - self.f.tell()

    def read(self, n=-1):
        left = self.remaining()
        return self.f.read(left if n is None or n < 0 or n > left else n)

    def readline(self, limit=-1):
        left = self.remaining()
        return self.f.readline(left if limit is None or limit < 0 or limit > left else limit)

    def tell(self):
        return self.f.tell()

    def seek(self, pos, whence=0):
        return self.f.seek(pos, whence)


def prescan(f, allowed):
    """Walk one pickle (up to STOP) without running it; raise Refused or ValueError. Restores the position."""
    start, memo, count = f.tell(), set(), 0
    try:
        for op, arg, _ in pickletools.genops(f):
            count += 1
            if op.name not in ALLOWED_OPCODES:
                raise ValueError(f"pickle opcode {op.name} is not used by weight checkpoints")
            if op.name == "GLOBAL":
                module, _, name = arg.partition(" ")
                if (module, name) not in allowed:
                    raise Refused(f"{module}.{name}")
            elif op.name in _PUTS or op.name == "MEMOIZE":
                index = len(memo) if op.name == "MEMOIZE" else arg
                if not 0 <= index <= count:
                    raise ValueError(f"pickle memo index {index} is out of range")
                memo.add(index)
            elif op.name in _GETS and arg not in memo:
                raise ValueError(f"pickle refers to memo entry {arg} that was never stored")
    finally:
        f.seek(start)


class SafeUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals come only from `allowed` {(module, name): stand-in}."""

    def __init__(self, f, allowed, persistent_load=None):
        super().__init__(f, encoding="utf-8")
        self._allowed = allowed
        self._pload = persistent_load

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        if self._pload is None:
            raise pickle.UnpicklingError("unexpected persistent id")
        return self._pload(pid)


def safe_load(f, path, what, allowed=None, persistent_load=None):
    """Unpickle one object from f (a file-like at its current position) after a prescan.

    Refused globals -> "refusing to load <path>: it asks to run <module.name>, ...";
    any other damage -> one UserError line naming the file. Only the allowlist's objects are reachable."""
    allowed = allowed or {}
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    try:
        prescan(f, allowed)
        return SafeUnpickler(f, allowed, persistent_load).load()
    except Refused as e:
        raise UserError(
            f"refusing to load {path}: it asks to run {e.name}, which a weights checkpoint "
            "never needs (nothing from the file was run); use the publisher's file, or save "
            "model.state_dict() rather than the whole model"
        ) from None
    except UserError:
        raise
    except RecursionError:
        raise UserError(f"{path} is not a readable {what} (nested too deeply); download it again") from None
    except Exception as e:  # untrusted bytes: any failure inside the unpickler is damage, said in one line
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise UserError(f"{path} is not a readable {what} ({detail}); download it again") from None
