"""NUMBA_NUM_THREADS, checked before Numba reads it.

Numba reads the variable once, on its first import, and trusts it: `0` and `-1` fail later with an
internal "Number of threads specified must be > 0", `abc` or `2.5` is set aside with a warning, and
`100000` makes the first parallel kernel crash the interpreter (a segmentation fault, measured on
Linux; 5000 threads still ran). `check_numba_threads()` runs before anything imports Numba and turns
a wrong value into one line that says which values work.
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
