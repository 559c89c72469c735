"""Parallel where it pays: a layer on a small array runs its Numba kernel on one thread.

Waking Numba's thread pool for a parallel loop costs a few microseconds on an idle machine and up to a
millisecond on a busy one, more than a layer needs for a few thousand numbers (the gradient checks call
layers on tiny arrays tens of thousands of times). `parallel_if_large` wraps a layer's forward or backward:
below PARALLEL_MIN elements in its first argument the call runs with one thread, then the caller's thread
count is restored, so dreaming on real images keeps every thread and nothing else changes.
"""

import functools

import numba
import numpy as np

PARALLEL_MIN = 1 << 15  # elements; below this one thread finishes before the pool wakes up


def _size(a, *args, **kwargs):
    return sum(np.size(x) for x in a) if isinstance(a, (list, tuple)) else np.size(a)


def parallel_if_large(layer_fn, size=_size, smallest=None):
    """Decorator: run `layer_fn(a, ...)` single-threaded when `a` (an array or a list of them) is small:
    size(a, ...) below `smallest` (PARALLEL_MIN elements unless given; see parallel_if_work)."""

    @functools.wraps(layer_fn)
    def run(a, *args, **kwargs):
        if size(a, *args, **kwargs) >= (PARALLEL_MIN if smallest is None else smallest):
            return layer_fn(a, *args, **kwargs)
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return layer_fn(a, *args, **kwargs)
        finally:
            numba.set_num_threads(before)

    return run


PARALLEL_MIN_WORK = 1 << 20  # multiply-adds; a conv of fewer runs on one thread


def parallel_if_work(work):
    """Decorator for a layer whose cost is not its first array's size (a convolution: a 16-channel 28x28
    input is 12,544 values but 10 M multiply-adds for a 5x5 conv to 32 channels): single-threaded when
    work(a, ...) is below PARALLEL_MIN_WORK."""
    return lambda layer_fn: parallel_if_large(layer_fn, size=work, smallest=PARALLEL_MIN_WORK)
