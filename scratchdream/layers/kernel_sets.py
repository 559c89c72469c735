"""The kernel sets: which module computes each layer family's forward and backward.

REFERENCE is scratchdream/layers/ itself (NumPy, to be read); "fast" is scratchdream/layers/fast/ (Numba and
BLAS, same functions, same signatures). Dreams run on "fast"; SCRATCHDREAM_KERNELS=reference in the
environment, or `scratchdream.use_kernels("reference")`, runs every layer on the references instead.
"""

import os
from contextlib import contextmanager
from types import ModuleType
from typing import NamedTuple

from ..errors import UsageError
from . import batchnorm, clip, concat, conv, leaky_relu, linear, lrn, pool, relu, softmax


class Kernels(NamedTuple):
    """A kernel set: for each layer family, the module holding its <kind>_forward / <kind>_backward."""

    name: str
    conv: ModuleType
    relu: ModuleType
    pool: ModuleType
    lrn: ModuleType
    concat: ModuleType
    linear: ModuleType
    softmax: ModuleType
    batchnorm: ModuleType
    leaky_relu: ModuleType
    clip: ModuleType


REFERENCE = Kernels("reference", conv, relu, pool, lrn, concat, linear, softmax, batchnorm, leaky_relu, clip)
_active = None  # the kernel set every forward uses, once chosen (see kernels())


def use_kernels(which):
    """Run every layer on `which`: "fast" (the Numba kernels, the default) or "reference" (NumPy only)."""
    global _active
    _active = _kernel_set(which, "use_kernels")


def kernels():
    """The kernel set in use: the last use_kernels(), else $SCRATCHDREAM_KERNELS, else "fast"."""
    global _active
    if _active is None:
        _active = _kernel_set(os.environ.get("SCRATCHDREAM_KERNELS", "fast"), "SCRATCHDREAM_KERNELS")
    return _active


def fast_kernels():
    """The Numba kernel set, one module per layer family (linear: the reference is already one BLAS
    product). Imported when first chosen, so a reference run never loads Numba."""
    from .fast import batchnorm, clip, concat, conv, leaky_relu, lrn, pool, relu, softmax

    return Kernels("fast", conv, relu, pool, lrn, concat, linear, softmax, batchnorm, leaky_relu, clip)


def _kernel_set(which, source):
    if which == "reference":
        return REFERENCE
    if which == "fast":
        return fast_kernels()
    raise UsageError(f"{source}: no kernel set {which!r}; use 'fast' (the default) or 'reference'")


def note_compiling():
    """With the fast kernels, a run that stops to compile them (a fresh install) says so when it starts."""
    if kernels().name == "fast":
        from .fast.cache import announce_compiling

        announce_compiling()


@contextmanager
def serial_first():
    """With the fast kernels, on a fresh install: the parallel kernels not compiled yet run on their serial
    twins (quick to compile) until the background compile, started after the first step
    (compile_in_background), puts them back (layers/fast/first_run.py). Leaving the block waits for that
    compile, so the next run finds every kernel in the cache; an error leaves without waiting."""
    if kernels().name != "fast":
        yield
        return
    from .fast import first_run

    first_run.enable()
    try:
        yield
    except BaseException:
        first_run.finish(wait=False)
        raise
    if first_run.compiling():
        from ..image_io import note, watched

        if watched():  # the picture is written; what the process still does, and why
            note("compiling the parallel kernels for the next runs (first run only)")
    first_run.finish()


def compile_in_background():
    """After a step: the kernels that ran on their serial twins compile in parallel now, in a background
    thread (a no-op unless serial_first is on, and after its first call)."""
    if kernels().name == "fast":
        from .fast import first_run

        first_run.start()
