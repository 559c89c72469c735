"""NUMBA_NUM_THREADS, checked before Numba reads it; OMP_WAIT_POLICY, set before OpenMP reads it.

Numba reads the variable once, on its first import, and trusts it: `0` and `-1` fail later with an
internal "Number of threads specified must be > 0", `abc` or `2.5` is set aside with a warning, and
`100000` makes the first parallel kernel crash the interpreter (a segmentation fault, measured on
Linux; 5000 threads still ran). `check_numba_threads()` runs before anything imports Numba and turns
a wrong value into one line that says which values work.

`wait_passively()` runs on `import scratchdream`: Numba's threading layer here is OpenMP (GNU libgomp;
TBB is not installed, so "omp" comes before "workqueue" in Numba's order), and libgomp's threads that wait
at the end of a parallel loop spin for a while (300000 spins by default) before they sleep. On a busy
machine the thread they wait for is often off its core, so the spinning is CPU time taken from the other
processes and counted in ours (docs/performance.md, "Threads that wait"). libgomp reads the variable once,
when Numba loads it at the first parallel kernel, so setting it on import is early enough.
"""

import os

from .errors import UsageError

MAX_THREADS = 1024  # far above any useful count (more threads than cores only adds waiting)


def check_numba_threads(environ=os.environ):
    """UsageError unless NUMBA_NUM_THREADS is unset or a whole number from 1 to MAX_THREADS."""
    text = environ.get("NUMBA_NUM_THREADS")
    if text is None:
        return
    if not (text.strip().isdigit() and 1 <= int(text) <= MAX_THREADS):
        raise UsageError(
            f"NUMBA_NUM_THREADS={text!r} does not work: set it to a whole number from 1 to {MAX_THREADS} "
            f"(this machine has {os.cpu_count() or 1} cores), or unset it to use them all"
        )


def wait_passively(environ=os.environ):
    """OMP_WAIT_POLICY=PASSIVE unless the user set it (any value of theirs is kept): OpenMP threads that
    wait then sleep at once instead of spinning. Only the OpenMP layer reads it; Numba's workqueue layer
    waits on a condition variable anyway, and TBB has its own policy."""
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
