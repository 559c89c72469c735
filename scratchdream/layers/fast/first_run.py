"""A fresh install's first dream without the long wait: serial twins first, parallel code in the background.

Numba compiles a kernel with `parallel=True` about 3x slower than the same loops without it: the 14 kernels
of a toyworld dream took 22.7 CPU seconds to compile parallel and 7.1 s serial (docs/performance.md, cold
first dream). So on a fresh install (a parallel kernel whose machine code is not in Numba's cache yet):

    enable()   swaps each such kernel of layers/fast/ for a `_Twin`: its calls run the same Python function
               compiled without `parallel` (its serial twin: same arguments, same result, one thread)
    start()    after the first step: one background thread compiles the parallel kernels for the argument
               types their twins were called with; each, once compiled, takes its own place back, so the
               later steps run on every thread
    finish()   waits for the rest (then in the cache: the next run loads them in milliseconds) and puts
               every kernel back

Only the CLI's dream turns this on (`scratchdream dream`); the library and the tests call the parallel
kernels as before. Compiling in child processes instead was tried and was slower (docs/performance.md).
"""

import os
import threading
import types

from numba import njit

from . import cache

_twins = []  # the _Twin objects standing in module attributes now
_todo = threading.Condition()  # guards the twins' pending signatures and the three below
_started = _closing = False
_round = 0  # one per enable .. finish: a compile thread left from an earlier round ends at once
_thread = None


class _Twin:
    """Stands where the parallel dispatcher `parallel` was (`module.name`) and runs its serial twin."""

    def __init__(self, module, name, parallel):
        self.module, self.name, self.parallel = module, name, parallel
        self.serial = njit(cache=True)(_renamed(parallel.py_func, "_serial"))
        self.pending = []  # signatures the serial twin compiled, the parallel kernel not yet
        self._cache = parallel._cache  # cache.kernels() and cache.uncompiled() see the parallel kernel

    def __call__(self, *args):
        known = len(self.serial.signatures)
        out = self.serial(*args)
        if len(self.serial.signatures) > known:  # a new argument type: the parallel kernel needs it too
            with _todo:
                self.pending.extend(self.serial.signatures[known:])
                _todo.notify()
        return out

    def restore(self):
        """Put the parallel dispatcher back in the module."""
        setattr(self.module, self.name, self.parallel)


def _renamed(f, suffix):
    """A copy of function f under another name, so that Numba caches its serial code apart."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix, f.__defaults__, f.__closure__)
    g.__qualname__, g.__module__, g.__doc__ = f.__qualname__ + suffix, f.__module__, f.__doc__
    return g


def enable():
    """Swap every parallel kernel not in Numba's cache yet for its serial twin; returns how many."""
    for module in cache.MODULES:
        for name, obj in list(vars(module).items()):
            if getattr(obj, "targetoptions", {}).get("parallel") and not _cached(obj):
                twin = _Twin(module, name, obj)
                setattr(module, name, twin)
                _twins.append(twin)
    return len(_twins)


def _cached(dispatcher):
    return os.path.exists(dispatcher._cache._cache_file._index_path)


def start():
    """Compile the parallel kernels the twins needed so far, and those they need later, in the background."""
    global _started, _thread
    with _todo:
        if _started or not _twins:
            return
        _started = True
        _thread = threading.Thread(
            target=_compile_all, args=(_round,), name="scratchdream-compile", daemon=True
        )
    _thread.start()


def _compile_all(round_):
    """The background thread: compile each pending signature with the parallel dispatcher, then put the
    kernel back; wait while nothing is pending; end when finish() asks and nothing is left."""
    while True:
        with _todo:
            while round_ == _round and not any(t.pending for t in _twins):
                if _closing:
                    return
                _todo.wait()
            if round_ != _round:
                return
            twin = next(t for t in _twins if t.pending)
            sig = twin.pending[0]
        try:
            twin.parallel.compile(sig)
            failed = False
        except Exception:  # noqa: BLE001 (its twin runs on; after finish() the caller meets the error)
            failed = True
        with _todo:
            if sig in twin.pending:
                twin.pending.remove(sig)
            if round_ == _round and not twin.pending and not failed:
                twin.restore()


def finish(wait=True):
    """Wait for the parallel kernels still to compile, then put every kernel back. wait=False (after an
    error): at once; the kernel compiling now finishes in the background, for the cache."""
    global _started, _closing, _thread, _round
    if wait:
        start()
    with _todo:
        _closing = True
        if not wait:
            for twin in _twins:
                twin.pending.clear()
        _todo.notify_all()
        thread = _thread
    if thread is not None and wait:
        thread.join()
    with _todo:
        for twin in _twins:
            twin.restore()
        _twins.clear()
        _started = _closing = False
        _round += 1
        _thread = None


def compiling():
    """Whether some kernel that ran on its serial twin still waits for its parallel code."""
    with _todo:
        return any(t.pending for t in _twins)


def active():
    """Whether any kernel runs on its serial twin now."""
    return bool(_twins)
