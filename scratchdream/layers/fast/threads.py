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


def _size(a):
    return sum(np.size(x) for x in a) if isinstance(a, (list, tuple)) else np.size(a)


def parallel_if_large(layer_fn):
    """Decorator: run `layer_fn(a, ...)` single-threaded when `a` (an array or a list of them) is small."""

    @functools.wraps(layer_fn)
    def run(a, *args, **kwargs):
        if _size(a) >= PARALLEL_MIN:
            return layer_fn(a, *args, **kwargs)
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return layer_fn(a, *args, **kwargs)
        finally:
            numba.set_num_threads(before)

    return run
