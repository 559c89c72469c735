"""Will this run compile? Numba turns each fast kernel into machine code on its first call and keeps the code
in its cache (`__pycache__` beside the module, or $NUMBA_CACHE_DIR); later runs load it in milliseconds. A
kernel with no cache index yet will be compiled before the first step, which on a fresh install takes most of
a minute: the CLI says so (`first_run_note`) instead of sitting at 0%.
"""

import os
import sys

from . import batchnorm, blas, concat, conv, lrn, pool, relu, softmax, winograd

MODULES = (conv, winograd, blas, pool, relu, lrn, concat, softmax, batchnorm)

# measured on the 2-core machine with an empty cache: all 30 cached kernels compiled in 57 s
SECONDS_EACH = 1.9


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
    """One line on stderr when kernels are yet to be compiled, and how long it may take; returns how many."""
    missing = len(uncompiled())
    if missing:
        seconds = max(5, round(missing * SECONDS_EACH / 5) * 5)
        text = f"compiling kernels for this machine (first run only, up to about {seconds} s)"
        print(f"scratchdream: note: {text}", file=sys.stderr, flush=True)
    return missing
