"""Big buffers from the heap, not fresh pages each step: glibc's malloc thresholds raised once at import.

glibc serves an allocation above M_MMAP_THRESHOLD (128 KiB, growing to a few MiB as freed blocks show it
the sizes) with its own mmap, and gives it back with munmap when it is freed. A dream step allocates its
activations, caches and gradients afresh, megabytes each, so every step maps fresh pages and the kernel
zero-fills each one on its first touch: `sys` time 11% of `user` for VGG16 at 512 px (issue 18). With the
mmap threshold at 1 GiB and the heap's top kept (M_TRIM_THRESHOLD 1 GiB) a freed buffer goes back to
malloc's free lists and the next step's buffer of that size reuses its pages: 0.9% at 512 px. (32 MiB, the
ceiling older glibc documents, left VGG16's 64 MiB first-layer arrays at 512 px mapped per step: 7.8%;
256 MiB still mapped its 256 MiB ones at 1024 px: a step alone on 2 threads 4.1-4.4 s with sys 45% of
user, 3.0 s and 3.7% at 1 GiB; on one thread 6.40 -> 5.77 s, 12.2% -> 0.2%; peak resident set 1260 ->
1355 MB. glibc 2.36 takes any threshold for the main heap. Measured with warm steps, docs/performance.md.)
Arrays above 1 GiB (a first layer at 2048 px) are still mapped per step. The thresholds hold for the
whole process, which is why the benchmark runs PyTorch in a process of its own (benchmarks/torch_twin.py).

Linux with glibc only; elsewhere (macOS, musl, Windows) `apply` finds no glibc mallopt and does nothing.
"""

import ctypes
import ctypes.util
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # allocations above it are still mmapped (and munmapped when freed)
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap top for the next step instead of returning it


def _glibc():
    """glibc's C library, or None on any other platform or C library."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def apply(libc=None):
    """Raise the thresholds with mallopt; {setting: value} of those glibc accepted, {} when there is no
    glibc mallopt (libc: the library to call, _glibc() by default)."""
    libc = _glibc() if libc is None else libc
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return {}
    settings = {
        "M_MMAP_THRESHOLD": (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        "M_TRIM_THRESHOLD": (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    }
    return {name: value for name, (param, value) in settings.items() if mallopt(param, value) == 1}


APPLIED = apply()  # once, when layers/fast/ is first imported
