"""Memory before the first forward: what a forward + backward pass holds, from the size formulas alone.

The weights file chooses the channel counts and the picture chooses H x W; together they can ask for far
more memory than the machine has (one 60,000-channel conv on a 256 x 256 picture: 16 GB). `estimate` adds up
what a forward(keep=True) and the backward after it hold at their peak, without computing anything, and
`check` refuses before the first array is allocated when that is more than this process can still get,
naming the largest picture of the same shape that fits.

The peak is the start of backward, when every cache is still on the tape (nets/graph.py). We count:
    the arrays the tape keeps       the input of each LRN, batch norm and linear (their caches hold it)
                                    and of each conv when weight gradients are asked for (a dream's
                                    tape keeps a conv's weights only: its dx needs nothing more),
                                    each softmax's output, the targets; a relu reading a conv that
                                    nothing else reads runs inside that conv (graph._fuse_relus), and a
                                    flatten is a view: they pass their input's array on
    the rest of each cache          a ReLU mask (1 byte a value), a max-pool argmax (1 or 2 bytes a value),
                                    LRN's denominator (one float a value)
    the backward's working arrays   dL/dy, its masked copy (none for pooling and on the fused im2col
                                    path) and dL/dx, at the layer where they are largest
    the picture's gradient dL/dI    one float per input value
    WORKSPACE                       the banded im2col and Winograd buffers (layers/conv.py, winograd.py)
tests/test_memory_estimate.py holds it between 0.9x and 2x the measured peak RSS.

`release_freed` hands the allocator's free memory back to the system after a layer that moved a large
array: glibc keeps freed blocks below its (self-raising) mmap threshold in the heap, where a dream's
activations, freed in one order and allocated in another, leave holes that still count as resident.
"""

import ctypes
import ctypes.util
import os
import resource
import weakref
from collections import Counter

import numpy as np

from ..errors import WordedError
from ..layers import geometry, kernels
from .spec import INPUT, pair

KEEP_INPUT = ("lrn", "batchnorm", "linear")  # kinds whose cache holds their input array (conv: training)
WORKSPACE = 64 << 20  # bytes: a few 16 MiB band buffers (COLS_BUDGET, BAND_BUDGET) and transformed weights
GiB = 1 << 30


def estimate(net, H, W, upto=None, dtype=np.float32, batch=1, weight_grads=False):
    """Bytes that `batch` H x W pictures hold at the peak of forward(upto) + backward, in `dtype`
    (weight_grads: a forward that keeps what parameter gradients need, Net.forward's argument)."""
    keep_input = KEEP_INPUT + (("conv",) if weight_grads else ())
    item = np.dtype(dtype).itemsize
    upto = upto if upto is not None else net.layer_names[-1]
    targets = [net.resolve(t) for t in (upto if isinstance(upto, (list, tuple)) else [upto])]
    spec_of = {layer["name"]: layer for layer in net.spec["layers"]}  # as written (and validated)
    plan = [spec_of[layer["name"]] for layer in net._ancestors(targets)]
    shapes = net.shapes(H, W)
    values = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    readers = Counter(src for layer in plan for src in layer.get("inputs", [INPUT]))
    array = {INPUT: INPUT}  # layer -> whose array its output is
    kept, cache_bytes, working = set(), 0, 0
    for layer in plan:
        name, kind, inputs = layer["name"], layer["kind"], layer.get("inputs", [INPUT])
        if kind == "flatten" or _inside_its_conv(layer, spec_of, readers, targets):
            array[name] = array[inputs[0]]
        else:
            array[name] = name
            copy = 0 if _reads_through_its_mask(layer, shapes, dtype) else values[name]  # dL/dy masked
            working = max(working, values[name] + copy + sum(values[s] for s in inputs))
        if kind in keep_input:
            kept.update(array[s] for s in inputs)
        if kind == "softmax":
            kept.add(name)
        cache_bytes += values[name] * _cache_bytes(layer, item)
    kept.update(array[t] for t in targets)
    kept.discard(INPUT)  # the caller's array, already allocated
    total = sum(values[a] for a in kept) * item + cache_bytes + 3 * H * W * item  # ... + dL/dI
    return batch * (total + working * item) + WORKSPACE


def _inside_its_conv(layer, spec_of, readers, targets):
    """A relu reading a conv without its own ReLU that nothing else reads runs inside it
    (graph._fuse_relus)."""
    src = spec_of.get(layer.get("inputs", [INPUT])[0], {})
    own_relu = src.get("hp", {}).get("relu")
    alone = readers[src.get("name")] == 1 and src.get("name") not in targets
    return layer["kind"] == "relu" and src.get("kind") == "conv" and not own_relu and alone


def _reads_through_its_mask(layer, shapes, dtype):
    """No masked copy of dL/dy: pooling scatters dL/dy straight onto dL/dx, and a conv on the fused im2col
    path (layers/fast/conv.py: float32, bands of output rows) reads dL/dy through its ReLU mask band by band.
    (Winograd does too; the estimate still counts a copy there, which covers what it leaves out, measured
    in tests/test_memory_estimate.py.)"""
    if layer["kind"] in ("maxpool", "avgpool"):
        return True
    k = kernels()  # the kernel set in use (the references never fuse)
    if layer["kind"] != "conv" or np.dtype(dtype) != np.float32 or k.name != "fast":
        return False
    geo = geometry.conv_geometry(layer["hp"], layer["name"])
    source = layer.get("inputs", [INPUT])[0]  # a layer without "inputs" reads the picture (graph.py)
    return k.conv.fused(geo, shapes[source][0], shapes[layer["name"]][0], np.float32)


def _cache_bytes(layer, item):
    """Bytes per output value that the layer's cache holds besides its input."""
    kind, hp = layer["kind"], layer.get("hp", {})
    if kind in ("relu", "leaky_relu", "clip") or (kind == "conv" and hp.get("relu")):
        return 1  # the mask, bool
    if kind == "maxpool":
        return 1 if np.prod(pair(hp["kernel"])) <= 256 else 2  # the argmax inside its window
    if kind == "lrn":
        return item  # the denominator, one float per value
    return 0


# Giving freed heap pages back after every big layer keeps a dream's peak low, but the next step faults
# them in again (kernel time), so it is done only when asked (`keep_low`, what --max-memory turns on).
# VGG16 to conv4_3, 4 warm steps (layers/fast/heap.py keeps freed buffers for reuse otherwise), peak RSS /
# sys:user / seconds a step, without and with trimming after layers of 4 MiB or more:
#   451x300  337 MiB / 2.9% / 0.44 s   against   316 MiB / 29% / 0.55 s   (the CLI dream: 341 vs 319 MiB)
#   512x512  425 MiB / 3.0% / 0.81 s   against   384 MiB / 25% / 1.02 s
TRIM_MIN = 4 << 20  # bytes: trim after a layer whose array is at least this big (a dream's first blocks)
_trim = [False]
_libc = []  # glibc's malloc_trim, once looked up ([None] elsewhere)


def keep_low(on=True):
    """From now on give freed heap pages back after every big layer (on), or keep them for reuse (off,
    the default: faster). Measured above."""
    _trim[0] = bool(on)


def release_freed(nbytes):
    """After a layer that allocated or freed an array of `nbytes`: when keep_low is on and `nbytes` is at
    least TRIM_MIN, give the heap's free pages back to the system (glibc's malloc_trim(0); nothing
    elsewhere)."""
    if not _trim[0] or nbytes < TRIM_MIN:
        return
    if not _libc:
        name = ctypes.util.find_library("c")
        try:
            _libc.append(getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None)
        except OSError:
            _libc.append(None)
    if _libc[0] is not None:
        _libc[0](0)


def available():
    """Bytes this process can still allocate: MemAvailable, or what RLIMIT_AS leaves if that is less.

    None when neither is known (not Linux): then nothing is refused."""
    free = _proc_kib("/proc/meminfo", "MemAvailable")
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    used = _proc_kib(f"/proc/{os.getpid()}/status", "VmSize")
    if limit != resource.RLIM_INFINITY and used is not None:
        room = max(0, limit - used)
        free = room if free is None else min(free, room)
    return free


def _proc_kib(path, key):
    """The value of `key:  1234 kB` in a /proc file, in bytes; None if missing."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check(net, shape, upto, dtype, weight_grads=False):
    """Refuse, before anything is allocated, a forward + backward of an (N, 3, H, W) input that cannot fit."""
    N, _, H, W = shape
    need = _remembered(net, H, W, upto, dtype, N, weight_grads)
    free = available()
    if free is None or need <= free:
        return
    what = f"a {W}x{H} picture" if N == 1 else f"a batch of {N} {W}x{H} pictures"
    fit = largest_fit(net, H, W, upto, dtype, N, free)
    advice = (
        "the largest size that fits is {fit}: use a smaller picture or smaller tiles ({tile})"
        if fit
        else "no size fits: free some memory first"
    )
    raise WordedError(
        "{what} through {name} needs about {need} for the forward and backward pass, {free} are free; "
        + advice,
        what=what,
        name=net.name,
        need=_size(need),
        free=_size(free),
        fit=f"{fit[1]}x{fit[0]}" if fit else "",
    )


_NEEDS = weakref.WeakKeyDictionary()  # net -> {the arguments of estimate, the kernel set: bytes}


def _remembered(net, H, W, upto, dtype, batch, weight_grads):
    """estimate(...), worked out once per net and arguments: a dream calls forward with the same shape
    every step, and the sum walks the whole spec in Python (0.8 ms for GoogLeNet, 1.2% of a 224-px step).
    It depends only on the architecture, these arguments and the kernel set in use."""
    targets = tuple(upto) if isinstance(upto, (list, tuple)) else (upto,)
    key = (H, W, targets, np.dtype(dtype).str, batch, weight_grads, kernels().name)
    known = _NEEDS.setdefault(net, {})
    if key not in known:
        known[key] = estimate(net, H, W, upto, dtype, batch, weight_grads)
    return known[key]


def largest_fit(net, H, W, upto, dtype, batch, free):
    """The largest (h, w) of H x W's aspect whose estimate fits in `free` bytes; None if none does."""

    def scaled(side):
        f = side / max(H, W)
        return max(1, int(H * f)), max(1, int(W * f))

    lo, hi = 0, max(H, W)  # the long side: lo fits (0 stands for "nothing"), hi + 1 does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(net, *scaled(mid), upto, dtype, batch) <= free:
            lo = mid
        else:
            hi = mid - 1
    return scaled(lo) if lo else None


def _size(nbytes):
    return f"{nbytes / GiB:.1f} GiB" if nbytes >= GiB / 10 else f"{nbytes / 2**20:.0f} MiB"
