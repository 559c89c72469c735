"""Many frames on many processes or machines: a clip cut into chunks, each chunk dreamed by a Dask worker.

    chunk c = frames [c * size, (c + 1) * size)            (the same cut whoever dreams it)
    its task dreams frames [start - warmup, end) in order and keeps [start, end)

A frame starts from the dream of the frame before it (video.py), which the first frame of a chunk does
not have on another machine. So its worker first dreams the `warmup` frames before the chunk and drops
them: blend^warmup of the cold start is left when the kept frames begin (0.5^4 = 6%), and the seam does
not show. The cut and each frame's seed depend on the frame index alone, so a run gives the same bytes
with one process (serial, the same chunks in turn) or any number of workers.

Dask (dask.distributed) does the scheduling, the retries and the transfers; nothing here schedules:
  - `--workers N`: a LocalCluster of N processes, one task at a time each, with cores // N Numba
    threads, so that threads x workers <= cores; `--scheduler tcp://HOST:8786`: an existing cluster
    (`dask worker` on each machine, scratchdream installed there);
  - the weights file is scattered once to every worker, and each worker process loads the net once (a
    cache keyed by the file's sha256), not once per chunk;
  - a worker that dies mid-chunk: Dask gives its chunk to another worker; the chunk is a pure function
    of its frames and settings, so the rerun makes the same frames, and each frame is delivered once.
"""

import contextlib
import hashlib
import os
import tempfile
from collections import deque
from dataclasses import dataclass

from .errors import UserError
from .video import dream_frames

IN_FLIGHT = 2  # chunks queued per worker: enough to keep it busy, few enough to hold frames for


@dataclass(frozen=True)
class Span:
    """One task's frames: inputs [lead, end), kept [keep, end). resumed: frame keep - 1 is already
    dreamed (a resumed run) and is carried over instead of a warm-up (then lead = keep - 1)."""

    lead: int
    keep: int
    end: int
    resumed: bool = False


@dataclass
class Piece:
    """A Span with its pictures: inputs (uint8 frames lead.. or keep..end), prev (dream, frame) or None."""

    span: Span
    inputs: list
    prev: tuple = None


@dataclass(frozen=True)
class Job:
    """What every chunk of one run shares: the dream settings (DreamOptions), blend, flow."""

    options: object
    blend: float
    flow: bool


@dataclass(frozen=True)
class Weights:
    """A weights file's bytes, sent once to each worker; sha256 names it in the worker's net cache."""

    sha256: str
    data: bytes


def spans(count, size, warmup, done=frozenset()):
    """The tasks of a clip of `count` frames in chunks of `size`: a chunk already done is skipped, a chunk
    partly done (a resumed run) restarts at its first missing frame from the dream before it."""
    out = []
    for start in range(0, count, size):
        end = min(start + size, count)
        missing = [k for k in range(start, end) if k not in done]
        if not missing:
            continue
        first = missing[0]
        if first > start:
            out.append(Span(first - 1, first, end, resumed=True))
        else:
            out.append(Span(max(0, start - warmup), start, end))
    return out


def pieces(frames, todo, load_dream):
    """The Pieces of the Spans `todo`, filled from the clip's `frames` (an iterator, read once, in order);
    only the frames still needed are held. load_dream(k): the saved dream of frame k (resumed spans)."""
    todo, held = deque(todo), {}
    for k, frame in enumerate(frames):
        if not todo:
            return
        if k >= min(s.lead for s in todo):  # a warm-up may reach back before a resumed span's start
            held[k] = frame
        while todo and todo[0].end - 1 == k:
            s = todo.popleft()
            if s.resumed:
                yield Piece(s, [held[j] for j in range(s.keep, s.end)], (load_dream(s.lead), held[s.lead]))
            else:
                yield Piece(s, [held[j] for j in range(s.lead, s.end)])
        low = min((s.lead for s in todo), default=k + 1)
        for j in [j for j in held if j < low]:
            del held[j]


def piece_frames(net, piece, job):
    """(k, dream) for each kept frame of one Piece, in order, as each is done (serially, or on a worker)."""
    s = piece.span
    first, keep_from = (s.keep, 0) if s.resumed else (s.lead, s.keep - s.lead)
    yield from dream_frames(net, piece.inputs, job.options, job.blend, job.flow, first, keep_from, piece.prev)


def run_serial(net, todo, job, on_frame):
    """Dream every Piece of `todo` here, in order; on_frame(k, dream) as each frame is done."""
    for piece in todo:
        for k, dream in piece_frames(net, piece, job):
            on_frame(k, dream)


# ---- Dask -----------------------------------------------------------------------------------------
def _dask():
    try:
        import distributed
    except ImportError:
        raise UserError("--workers and --scheduler need Dask: pip install 'scratchdream[dask]'") from None
    return distributed


def threads_per_worker(workers, cores):
    """Numba threads for each of `workers` processes on `cores` cores: threads x workers <= cores."""
    return max(1, cores // workers)


def local_client(workers, cores):
    """A Dask Client on a new LocalCluster of `workers` processes, each one task and cores // workers Numba
    (and BLAS) threads at a time. The caller closes it (client.close(); client.cluster.close())."""
    import logging

    distributed = _dask()
    if workers > cores:
        from .image_io import note

        note(f"{workers} workers on {cores} cores: each gets 1 thread, and those beyond {cores} only wait")
    n = str(threads_per_worker(workers, cores))
    env = {"NUMBA_NUM_THREADS": n, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
        env=env,
    )
    return distributed.Client(cluster)


def remote_client(address, timeout=5):
    """A Dask Client of the scheduler at `address`, or one line saying it cannot be reached."""
    distributed = _dask()
    try:
        return distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as e:
        raise UserError(
            f"cannot reach the Dask scheduler at {address} ({str(e).strip().splitlines()[0][:100]}); start "
            "one with `dask scheduler` and workers with `dask worker ADDRESS`, or check the address"
        ) from None


def close_client(client):
    """Close a Client, and its LocalCluster when it made one."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


@contextlib.contextmanager
def cluster(workers=None, scheduler=None, cores=1):
    """A Dask client of a new LocalCluster of `workers` processes or of the `scheduler` at an address,
    closed at the end; None when neither is given (the caller runs serially)."""
    if not (workers or scheduler):
        yield None
        return
    client = remote_client(scheduler) if scheduler else local_client(workers, cores)
    try:
        yield client
    finally:
        close_client(client)


def read_weights(name, weights_dir=None):
    """The Weights of a weights file, or of a zoo net's converted file (fetched if need be)."""
    from .fetch import ensure_weights

    path = name if os.path.exists(name) else ensure_weights(name, weights_dir)
    with open(path, "rb") as f:
        data = f.read()
    return Weights(hashlib.sha256(data).hexdigest(), data)


def run_on_dask(client, weights, todo, job, on_frame):
    """Dream the Pieces of `todo` on the cluster of `client`; on_frame(k, dream) for every kept frame, a
    chunk at a time, as chunks finish."""

    def on_chunk(frames):
        for k, dream in frames:
            on_frame(k, dream)

    map_on_dask(client, weights, chunk_task, ((piece, job) for piece in todo), on_chunk)


def chunk_task(net, item):
    """The work of one chunk on a worker: [(k, dream)] of its kept frames."""
    piece, job = item
    return list(piece_frames(net, piece, job))


def map_on_dask(client, weights, task, items, on_result):
    """task(net, item) for every item, on the workers of `client`, each worker's net loaded once from
    `weights`; at most IN_FLIGHT items queued per worker, so only those are held; on_result(result) as
    each finishes (in any order). `task` is a module-level function, so that workers import it."""
    distributed = _dask()
    shipped = client.scatter(weights, broadcast=True)  # the weights travel once to each worker
    limit = IN_FLIGHT * max(1, len(client.scheduler_info().get("workers", {})))
    items, running = iter(items), distributed.as_completed()
    try:
        for item in _take(items, limit):
            running.add(client.submit(_on_worker, shipped, task, item, pure=False))
        for future in running:
            on_result(future.result())
            for item in _take(items, 1):
                running.add(client.submit(_on_worker, shipped, task, item, pure=False))
    except distributed.KilledWorker:
        raise UserError(
            "Dask workers died again and again on the same task (out of memory?); what is done is kept "
            "(video: run again with --resume)"
        ) from None


def _take(iterator, n):
    for _ in range(n):
        item = next(iterator, None)
        if item is None:
            return
        yield item


_NETS = {}  # in each worker process: sha256 -> Net, so a net is loaded once per worker


def _on_worker(weights, task, item):
    """What runs on a worker: task(net, item) with the worker's cached net."""
    return task(worker_net(weights), item)


def worker_net(weights):
    """The Net of `weights` in this process, loaded on first use."""
    net = _NETS.get(weights.sha256)
    if net is None:
        from .weights_io import load_file

        fd, path = tempfile.mkstemp(suffix=".h5")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(weights.data)
            net = load_file(path)
            for layer in net.params:  # read every layer now (load_file reads them lazily): the file goes next
                net.params[layer]
            _NETS[weights.sha256] = net
        finally:
            os.remove(path)
    return net
