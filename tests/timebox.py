"""One fuzz example at a time, on a clock: a reader that hangs fails the test instead of stalling CI."""

import contextlib
import signal

SECONDS_PER_EXAMPLE = 10


@contextlib.contextmanager
def bounded(seconds=SECONDS_PER_EXAMPLE, what="the code under test"):
    """Raise TimeoutError if the block takes longer than `seconds` (SIGALRM; main thread only)."""

    def alarm(*_):
        raise TimeoutError(f"{what} hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
