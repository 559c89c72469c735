"""Unpickling untrusted files without running their code, in time and memory bounded by their size.

A pickle is a small stack-machine program. Its GLOBAL / STACK_GLOBAL instructions name any Python
function (`os system`), and REDUCE calls it with arguments from the stack: loading a pickle can run
anything. A weights checkpoint needs none of that: only a dict, tuples, ints, strings, and a few
named "rebuild a tensor" functions. So this reader

1. first walks the program without running it (`prescan`, over pickletools.genops), following only
   the *shape* of each value the program would put on its stack: its kind, how deeply it nests, and
   how many elements it holds. The walk stops the program when
   - an instruction is one no checkpoint uses (EXT*, INST, OBJ, buffers), a GLOBAL is not on the
     caller's allowlist, or a length or memo index does not fit in the bytes that remain;
   - a value nests deeper than MAX_DEPTH: CPython hashes a tuple by recursion in C, so a tuple
     nested 10^6 deep, used as a dict key or added to a set, overflows the C stack and kills Python;
   - the program builds more than MAX_ELEMENTS elements, a value counting again each time it is
     used: a memo GET costs two bytes, so ten tuples of ten copies of the previous one hold 10^10
     elements (a "billion laughs"), which hashing or printing would visit one by one;
   - it runs more than MAX_OPS instructions;
   - a dict key or set item is not a str: str hashes are salted afresh in every process, while int
     and tuple hashes can be chosen to collide, making each insertion cost the whole dict;
   - it changes a list, dict, set or object after placing it inside another value: the only way a
     program could deepen a value after its depth was counted (a checkpoint never does it).
2. then unpickles with a `pickle.Unpickler` whose `find_class` returns the caller's harmless
   stand-ins for the allowed names and refuses every other name (STACK_GLOBAL ends up there too).
Nothing from the file is ever imported or called. The walk keeps the same stack, marks and memo as
CPython's C unpickler (Modules/_pickle.c), so the values it measures are the values that get built.
"""

import gc
import io
import pickle
import pickletools

from ...errors import UserError
from . import short

# Limits, from the largest checkpoint the zoo reads: torchvision's GoogLeNet, 364 entries (VGG19 has 38).
# Its pickle runs 13,209 instructions and builds 29,049 elements nested 5 deep (measured on torch.save's
# legacy file; the zip one is a little smaller). Each limit is over 30x that, and the worst program
# within them costs about 1.7 s and 70 MB to read (1 M one-byte instructions, measured).
MAX_OPS = 1_000_000
MAX_ELEMENTS = 1_000_000
MAX_DEPTH = 256  # "a few hundred": 50x a state dict's depth, far below what could exhaust the C stack
MAX_INT_BYTES = 16  # sizes and offsets need 8 bytes, the legacy magic number 10

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


# ------------------------------------------------------------------------------------------ the walk
class Shape:
    """What the walk knows of one value: its kind, its depth (0 for a scalar, 1 + the deepest element
    for a container) and its size (elements in the tree below it, a value reached twice counting twice)."""

    __slots__ = ("kind", "depth", "size", "placed")

    def __init__(self, kind, depth=0, size=1):
        self.kind, self.depth, self.size, self.placed = kind, depth, size, False


STR, SCALAR, GLOBAL = Shape("str"), Shape("scalar"), Shape("global")  # shared: these never change


class Walk:
    """The C unpickler's stack, marks and memo, holding Shapes instead of objects, for the pickle in
    `source` (a BoundedReader) and the caller's allowlist."""

    def __init__(self, allowed, source):
        self.allowed, self.source = allowed, source
        self.stack, self.marks, self.memo, self.memo_len = [], [], {}, 0
        self.ops = self.elements = 0

    def step(self, name, arg):
        """Follow one instruction; ValueError (or Refused) stops the program."""
        self.ops += 1
        if self.ops > MAX_OPS:
            raise ValueError(f"pickle runs more than {MAX_OPS:,} instructions, far more than a checkpoint")
        step = _STEPS.get(name)
        if step is None:
            raise ValueError(f"pickle opcode {name} is not used by weight checkpoints")
        step(self, arg)

    # ---- the stack, as _pickle.c keeps it: values below the last MARK are out of reach
    def fence(self):
        return self.marks[-1] if self.marks else 0

    def top(self):
        if len(self.stack) <= self.fence():
            raise ValueError("pickle stack underflow")
        return self.stack[-1]

    def pop(self, n):
        """The top n >= 1 values, bottom first."""
        if len(self.stack) - n < self.fence():
            raise ValueError("pickle stack underflow")
        values = self.stack[-n:]
        del self.stack[-n:]
        return values

    def pop_mark(self):
        """The values above the last MARK, bottom first; the MARK goes too."""
        if not self.marks:
            raise ValueError("pickle has no MARK to pop to")
        start = self.marks.pop()
        values = self.stack[start:]
        del self.stack[start:]
        return values

    # ---- building values: every element placed is counted, every depth checked
    def place(self, into, values):
        """Put `values` into the container `into`: a new one, or one that was not itself placed yet."""
        if into.placed:
            raise ValueError("pickle changes a container after using it, which a checkpoint never does")
        depth = into.depth - 1
        for v in values:
            if v is into:
                raise ValueError("pickle puts a container inside itself")
            v.placed = True
            depth = max(depth, v.depth)
            into.size += v.size
            self.elements += v.size
        into.depth = depth + 1
        if into.depth > MAX_DEPTH:
            raise ValueError(f"pickle nests values more than {MAX_DEPTH} deep")
        if self.elements > MAX_ELEMENTS:
            raise ValueError(f"pickle builds more than {MAX_ELEMENTS:,} elements, far more than a checkpoint")
        return into

    def new(self, kind, values):
        self.stack.append(self.place(Shape(kind, depth=1), values) if values else Shape(kind, depth=1))

    def change(self, kinds, values):
        """APPEND(S), SETITEM(S), ADDITEMS, BUILD: add `values` to the container now on top."""
        target = self.top()
        if target.kind not in kinds:
            raise ValueError(f"pickle adds to a {target.kind}, not a {' or '.join(kinds)}")
        self.place(target, values)

    def memo_put(self, index):
        if not 0 <= index <= self.ops:  # _pickle.c sizes its memo by the largest index
            raise ValueError(f"pickle memo index {index} is out of range")
        if index not in self.memo:
            self.memo_len += 1
        self.memo[index] = self.top()

    def memo_get(self, index):
        if index not in self.memo:
            raise ValueError(f"pickle refers to memo entry {index} that was never stored")
        self.stack.append(self.memo[index])


def _int(walk, arg):
    if type(arg) is int and arg.bit_length() > 8 * MAX_INT_BYTES:
        raise ValueError(f"pickle holds an integer of {arg.bit_length()} bits")
    walk.stack.append(SCALAR)


def _frame(walk, size):
    if size > walk.source.remaining():
        raise ValueError(f"pickle frame claims {size} bytes, only {walk.source.remaining()} remain")


def _str_keys(values, step=1):
    if any(v is not STR for v in values[::step]):
        raise ValueError("pickle has a dict key or set item that is not a string, as a state dict never has")
    return values


def _pop(walk, _):
    if walk.marks and walk.marks[-1] == len(walk.stack):  # as _pickle.c: POP right after MARK drops the MARK
        walk.marks.pop()
    else:
        walk.pop(1)


def _mark(walk, _):
    if len(walk.marks) >= MAX_DEPTH:
        raise ValueError(f"pickle nests values more than {MAX_DEPTH} deep")
    walk.marks.append(len(walk.stack))


def _global(walk, arg):
    module, _, name = arg.partition(" ")
    if (module, name) not in walk.allowed:
        raise Refused(f"{module}.{name}")
    walk.stack.append(GLOBAL)


def _stack_global(walk, _):
    _str_keys(walk.pop(2))  # module and name; find_class checks them against the allowlist
    walk.stack.append(GLOBAL)


def _call(walk, _):
    """REDUCE and NEWOBJ: a GLOBAL called with a tuple; the result holds at most its arguments."""
    function, args = walk.pop(2)
    if function is not GLOBAL or args.kind != "tuple":
        raise ValueError("pickle calls something that is not an allowed name with an argument tuple")
    walk.new("object", [args])


def _persistent(walk, _):
    walk.new("object", walk.pop(1))


def _dict(walk, _):
    values = walk.pop_mark()
    if len(values) % 2:
        raise ValueError("pickle builds a dict from an odd number of items")
    walk.new("dict", _str_keys(values, 2))


def _setitems(walk, values):
    if len(values) % 2:
        raise ValueError("pickle sets an odd number of dict items")
    walk.change(("dict", "object"), _str_keys(values, 2))


_STEPS = {
    **dict.fromkeys(
        "STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8".split(),
        lambda w, _: w.stack.append(STR),
    ),
    **dict.fromkeys(
        "BININT BININT1 BININT2 NONE NEWTRUE NEWFALSE FLOAT BINFLOAT".split(),
        lambda w, _: w.stack.append(SCALAR),
    ),
    **dict.fromkeys("BINBYTES SHORT_BINBYTES BINBYTES8".split(), lambda w, _: w.stack.append(SCALAR)),
    **dict.fromkeys("INT LONG LONG1 LONG4".split(), _int),
    "PROTO": lambda w, _: None,
    "FRAME": _frame,
    "STOP": lambda w, _: None,
    "MARK": _mark,
    "POP": _pop,
    "POP_MARK": lambda w, _: w.pop_mark(),
    "DUP": lambda w, _: w.stack.append(w.top()),
    "EMPTY_TUPLE": lambda w, _: w.new("tuple", []),
    "TUPLE1": lambda w, _: w.new("tuple", w.pop(1)),
    "TUPLE2": lambda w, _: w.new("tuple", w.pop(2)),
    "TUPLE3": lambda w, _: w.new("tuple", w.pop(3)),
    "TUPLE": lambda w, _: w.new("tuple", w.pop_mark()),
    "EMPTY_LIST": lambda w, _: w.new("list", []),
    "LIST": lambda w, _: w.new("list", w.pop_mark()),
    "APPEND": lambda w, _: w.change(("list",), w.pop(1)),
    "APPENDS": lambda w, _: w.change(("list",), w.pop_mark()),
    "EMPTY_DICT": lambda w, _: w.new("dict", []),
    "DICT": _dict,
    "SETITEM": lambda w, _: _setitems(w, w.pop(2)),
    "SETITEMS": lambda w, _: _setitems(w, w.pop_mark()),
    "EMPTY_SET": lambda w, _: w.new("set", []),
    "ADDITEMS": lambda w, _: w.change(("set",), _str_keys(w.pop_mark())),
    "FROZENSET": lambda w, _: w.new("frozenset", _str_keys(w.pop_mark())),
    "PUT": lambda w, i: w.memo_put(i),
    "BINPUT": lambda w, i: w.memo_put(i),
    "LONG_BINPUT": lambda w, i: w.memo_put(i),
    "MEMOIZE": lambda w, _: w.memo_put(w.memo_len),
    "GET": lambda w, i: w.memo_get(i),
    "BINGET": lambda w, i: w.memo_get(i),
    "LONG_BINGET": lambda w, i: w.memo_get(i),
    "GLOBAL": _global,
    "STACK_GLOBAL": _stack_global,
    "REDUCE": _call,
    "NEWOBJ": _call,
    "BUILD": lambda w, _: w.change(("object",), w.pop(1)),
    "BINPERSID": _persistent,
}
assert set(_STEPS) == ALLOWED_OPCODES


def prescan(f, allowed):
    """Walk one pickle (up to STOP) in `f` (a BoundedReader) without running it; raise Refused or
    ValueError. Restores the position; returns the Walk (its counts: ops, elements)."""
    start, walk = f.tell(), Walk(allowed, f)
    try:
        for op, arg, _ in pickletools.genops(f):
            walk.step(op.name, arg)
    finally:
        f.seek(start)
    return walk


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
        f = BoundedReader(io.BytesIO(f), len(f))
    collecting = gc.isenabled()
    gc.disable()  # neither the walk's Shapes nor a program it lets through can form a reference cycle
    try:
        prescan(f, allowed)
        return SafeUnpickler(f, allowed, persistent_load).load()
    except Refused as e:
        raise UserError(
            f"refusing to load {path}: it asks to run {short(e.name)}, which a weights checkpoint "
            "never needs (nothing from the file was run); use the publisher's file, or save "
            "model.state_dict() rather than the whole model"
        ) from None
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"ran out of memory reading {path}; free memory or use another copy") from None
    except RecursionError:
        raise UserError(f"{path} is not a readable {what} (nested too deeply); download it again") from None
    except Exception as e:  # untrusted bytes: any failure inside the unpickler is damage, said in one line
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise UserError(f"{path} is not a readable {what} ({detail}); download it again") from None
    finally:
        if collecting:
            gc.enable()
