"""Say so when a run stops to compile. Numba turns each fast kernel into machine code on its first call and
keeps the code in its cache (`__pycache__` beside the module, or $NUMBA_CACHE_DIR); later runs load it in
milliseconds. On a fresh install the first dream compiles its kernels, most of a minute in all (the
serial twins of first_run.py before its first step, the parallel kernels after it): `announce_compiling`
prints one line the moment Numba starts compiling (its "numba:compile" event, which a kernel loaded from
the cache does not fire), so it never comes before a mistake's one-line error.
"""

import os
import sys

from numba.core import event
from tqdm import tqdm

from ...image_io import watched
from . import batchnorm, blas, clip, concat, conv, leaky_relu, lrn, pool, relu, softmax, winograd, winograd5

MODULES = (conv, winograd, winograd5, blas, pool, relu, leaky_relu, clip, lrn, concat, softmax, batchnorm)

# measured on the idle 2-core Xeon with an empty cache, one process: the 24 kernels `scratchdream calibrate`
# compiles took 25.0 s (Winograd's 5: 11.2 s). A first dream compiles only its net's kernels, first their
# serial twins (toyworld's 14: 7 CPU s, its first step at about that; docs/performance.md, cold first dream).
SECONDS_EACH = 1.0


def kernels():
    """Every cached Numba kernel of layers/fast/ (a dispatcher with a cache file)."""
    return [
        obj
        for module in MODULES
        for obj in vars(module).values()
        if getattr(getattr(getattr(obj, "_cache", None), "_cache_file", None), "_index_path", None)
    ]


def uncompiled():
    """The kernels whose machine code is not in the cache yet."""
    return [k for k in kernels() if not os.path.exists(k._cache._cache_file._index_path)]


def first_run_note():
    """The line to print, with how long the kernels not yet in the cache may take to compile."""
    seconds = max(5, round(len(uncompiled()) * SECONDS_EACH / 5) * 5)
    return f"scratchdream: note: compiling kernels for this machine (first run only, up to about {seconds} s)"


class _Announcer(event.Listener):
    """Prints first_run_note at the first compile of this process (above any progress bar), then no more."""

    said = False

    def on_start(self, ev):
        if not _Announcer.said and watched():
            _Announcer.said = True
            tqdm.write(first_run_note(), file=sys.stderr)

    def on_end(self, ev):
        pass


_announcer = None


def announce_compiling():
    """From now on, the first compile of this process is announced (calling this again changes nothing)."""
    global _announcer
    if _announcer is None:
        _announcer = _Announcer()
        event.register("numba:compile", _announcer)
