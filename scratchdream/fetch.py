"""Download on first use: a publisher's weights file, verified, never half-written, then converted.

    ensure_weights(name, weights_dir=None) -> path   a zoo name's converted .h5: fetched, verified,
                                                     converted (nets/convert.py) and saved the first time
    fetch(url, dest, sha256=..., sha1=..., md5=..., sha256_prefix=...) -> dest

1. If `dest` is already there and matches the checksum, nothing happens (a second call is free of
   side effects). A file there that does not match is left alone and reported.
2. The bytes stream into `dest + ".part"` in the same folder while the checksum is computed on the fly,
   with a tqdm progress bar. A dropped connection is resumed with an HTTP Range request (a few tries),
   and a `.part` left by a killed process is resumed the same way on the next call.
3. Only when the length and the checksum both match is the `.part` fsynced and renamed onto `dest`
   (atomic within a folder). On any failure, Ctrl-C included, the `.part` is deleted: afterwards the
   folder holds the verified file or nothing. The error is one line naming the URL that failed and
   exactly which file to put where to go on by hand.

Checksums: the publishers give different kinds (docs/zoo.md): Caffe a sha1, torchvision the first 8
hex of the sha256 in the file name, Keras an md5. Every checksum given must match.
"""

import contextlib
import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request

from tqdm import tqdm

from .errors import UserError, WordedError
from .nets import zoo
from .nets.convert import convert_file
from .weights_io import save_net

CHUNK = 1 << 20
TRIES = 3  # connections per fetch: the first and up to two resumes
TIMEOUT = 60.0  # seconds without a byte before a connection counts as dead
MAX_BYTES = 8 << 30  # no published weights file comes near; a runaway server stops here
HASHES = {"sha256": "sha256", "sha1": "sha1", "md5": "md5", "sha256_prefix": "sha256"}


def ensure_weights(name, weights_dir=None, progress=True):
    """Path of the converted .h5 for a zoo name: returned if present, else fetched, verified, converted
    and saved."""
    if name in zoo.LOCAL:
        return zoo.toyworld_path(weights_dir, name)  # committed, never downloaded
    e = zoo.entry(name)
    target = zoo.weights_path(name, weights_dir)
    if os.path.isfile(target):
        return target
    source = os.path.join(os.path.dirname(target), e.filename)
    kind, value = e.checksum
    if kind == "none" and not os.path.isfile(source):
        raise UserError(
            f"{name}: its publisher gives no checksum, so scratchdream does not download it; fetch "
            f"{e.url} yourself, then `scratchdream convert {e.filename} -o {target}`"
        )
    _check_folder(target, _by_hand(e.url, source, {kind: value}))
    if kind != "none":  # a published checksum: download, or verify a file already there first
        try:
            fetch(e.url, source, progress=progress, **{kind: value})
        except UserError as err:
            raise WordedError.extend(err, "; meanwhile {net} toyworld works offline") from None
    save_net(convert_file(source, net=name), target)
    return target


class _Broken(Exception):
    """One connection failed (network, server, short body); the reason is its message."""


def fetch(url, dest, sha256=None, sha1=None, md5=None, sha256_prefix=None, progress=True, timeout=TIMEOUT):
    """Download `url` to `dest` unless a verified copy is already there; return `dest`."""
    want = {
        k: v.lower()
        for k, v in dict(sha256=sha256, sha1=sha1, md5=md5, sha256_prefix=sha256_prefix).items()
        if v
    }
    if not want:
        raise ValueError("fetch needs at least one published checksum")
    dest = os.fspath(dest)
    how = _by_hand(url, dest, want)
    if os.path.isdir(dest):
        raise WordedError(
            "{dest} is a folder; remove it or choose another {weights_dir}, then run again", dest=dest
        )
    if os.path.exists(dest):
        got = _digests_of_file(dest, want)
        if _matches(got, want):
            return dest
        raise UserError(
            f"{dest} is there but is not the published file ({_mismatch(got, want)}); "
            f"delete it and run again, or replace it by hand: {how}"
        )
    _check_folder(dest, how)
    part = dest + ".part"
    with _locked(part, how) as f:
        try:
            _download(url, _Sink(f, want), progress, timeout, how)
            os.fsync(f.fileno())
            os.replace(part, dest)
        except OSError as e:  # flush/fsync/rename: the disk, not the network
            with contextlib.suppress(OSError):
                os.remove(part)
            raise UserError(
                f"cannot write {part} ({e.strerror}); free space or choose another "
                "--weights-dir; nothing was kept"
            ) from None
        except BaseException:  # network, checksum, Ctrl-C: leave nothing behind
            with contextlib.suppress(OSError):
                os.remove(part)
            raise
    return dest


class _Sink:
    """The .part file and the running checksums of everything in it."""

    def __init__(self, f, want):
        self.f, self.want = f, want
        self.reset(keep=True)

    def reset(self, keep=False):
        """Start the checksums over; keep=True first reads what a killed run left in the file."""
        if not keep:
            self.f.seek(0)
            self.f.truncate()
        self.hashers = {kind: hashlib.new(HASHES[kind]) for kind in self.want}
        self.f.seek(0)
        self.size = 0
        while chunk := self.f.read(CHUNK):
            self._hash(chunk)

    def _hash(self, chunk):
        for h in self.hashers.values():
            h.update(chunk)
        self.size += len(chunk)

    def write(self, chunk):
        try:
            self.f.write(chunk)
        except OSError as e:
            raise UserError(
                f"cannot write {self.f.name} ({e.strerror}); free space or choose another "
                "--weights-dir; nothing was kept"
            ) from None
        self._hash(chunk)

    def digests(self):
        self.f.flush()
        return {kind: h.hexdigest() for kind, h in self.hashers.items()}


def _download(url, sink, progress, timeout, how):
    """Fill the .part file with the verified bytes of url, resuming dropped connections."""
    stale = sink.size > 0  # a .part from a killed run: resume it
    while True:
        reason = _stream(url, sink, progress, timeout)
        if reason is not None:
            raise UserError(f"cannot download {url} ({reason}); nothing was kept; to go on by hand: {how}")
        got = sink.digests()
        if _matches(got, sink.want):
            return
        if not stale:
            raise UserError(
                f"refusing the download of {url}: {_mismatch(got, sink.want)}; the file is damaged "
                f"or not the published one and nothing was kept; try again later, or by hand: {how}"
            )
        stale = False  # the old .part was bad: once more from byte 0
        sink.reset()


def _stream(url, sink, progress, timeout):
    """Append the rest of url over up to TRIES connections; None when complete, else the reason."""
    reason = None
    with tqdm(
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=url.rsplit("/", 1)[-1],
        disable=not progress,
        leave=False,
        delay=1.0,
    ) as bar:  # no bar flashes before a quick error
        for _ in range(TRIES):
            try:
                _connection(url, sink, bar, timeout)
                return None
            except _Broken as e:
                reason = str(e)
                if reason.startswith(("HTTP ", "no server")):
                    break  # the server said no, or is not there: retrying won't help
    return reason


def _connection(url, sink, bar, timeout):
    """One HTTP request for the bytes after the sink's; returns when the whole file has arrived."""
    have = sink.size
    headers = {"User-Agent": "scratchdream", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked past the end: start over
            sink.reset()
            raise _Broken("the server refused to resume") from None
        raise _Broken(f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise _Broken(_network_reason(e)) from None
    with resp:
        start, total = _range_of(resp, have)
        if start == 0 and have:
            sink.reset()  # the server ignored Range: take it from the top
        bar.total, bar.n, bar.last_print_n = total, 0, 0  # not bar.reset(): it draws at once despite delay=,
        bar.update(sink.size)  # and close() then leaves that bar on the screen
        try:
            while chunk := resp.read(CHUNK):
                sink.write(chunk)
                bar.update(len(chunk))
                if sink.size > MAX_BYTES:
                    raise _Broken(f"HTTP body larger than {MAX_BYTES >> 30} GiB, not a weights file")
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise _Broken(f"connection lost after {sink.size} bytes: {_network_reason(e)}") from None
    if total is not None and sink.size != total:
        raise _Broken(f"the server sent {sink.size} of {total} bytes")


def _range_of(resp, have):
    """(first byte of this body, whole file length or None) from the status and headers."""
    length = resp.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if resp.status == 206:
        cr = resp.headers.get("Content-Range", "")  # "bytes 100-999/1000"
        try:
            first, whole = cr.split(" ", 1)[1].split("-", 1)[0], cr.rsplit("/", 1)[1]
            first, whole = int(first), (None if whole == "*" else int(whole))
        except (IndexError, ValueError):
            raise _Broken(f"unreadable Content-Range {cr[:60]!r}") from None
        if first != have:
            raise _Broken(f"the server resumed at byte {first}, not {have}")
        return first, whole if whole is not None else (have + length if length is not None else None)
    return 0, length


def _network_reason(e):
    inner = getattr(e, "reason", e)
    if isinstance(inner, ConnectionRefusedError):
        return "no server answered: connection refused"
    if isinstance(inner, socket.gaierror):
        return "no server: the host name does not resolve (offline?)"
    if isinstance(inner, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(inner).__name__}: {inner}".splitlines()[0][:160]


# ------------------------------------------------------------------------------------------ checks
def _digests_of_file(path, want):
    hashers = {kind: hashlib.new(HASHES[kind]) for kind in want}
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                for h in hashers.values():
                    h.update(chunk)
    except OSError as e:
        raise UserError(
            f"cannot read {path} to check it ({e.strerror}); fix its permissions or delete it"
        ) from None
    return {kind: h.hexdigest() for kind, h in hashers.items()}


def _matches(got, want):
    return all(got[k].startswith(v) if k == "sha256_prefix" else got[k] == v for k, v in want.items())


def _mismatch(got, want):
    kind = next(k for k, v in want.items() if not _matches({k: got[k]}, {k: v}))
    return f"its {HASHES[kind]} is {got[kind][: len(want[kind])]}, the published one is {want[kind]}"


def _by_hand(url, dest, want):
    kind, value = next(iter(want.items()))
    what = f"whose sha256 starts with {value}" if kind == "sha256_prefix" else f"with {kind} {value}"
    return f"download {url} yourself and put the file ({what}) at {dest}"


def _check_folder(dest, how):
    folder = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise WordedError(
            "cannot create the weights folder {folder} ({why}); choose another with {weights_dir} or "
            "$SCRATCHDREAM_WEIGHTS",
            folder=folder,
            why=e.strerror,
        ) from None
    if not os.access(folder, os.W_OK):
        raise WordedError(
            "the weights folder {folder} is read-only; choose another with {weights_dir} or "
            "$SCRATCHDREAM_WEIGHTS, or {how}",
            folder=folder,
            how=how,
        )


@contextlib.contextmanager
def _locked(part, how):
    """Open (or reopen, to resume) the .part file, exclusively: two downloads never share one."""
    try:
        f = open(part, "ab+")
    except OSError as e:
        raise WordedError(
            "cannot write {part} ({why}); choose another {weights_dir}, or {how}",
            part=part,
            why=e.strerror,
            how=how,
        ) from None
    try:
        try:
            import fcntl  # POSIX only: imported where it is used, so the rest works elsewhere

            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock, the rename is still atomic
            pass
        except OSError:
            raise UserError(
                f"another scratchdream is already downloading {part}; wait for it to finish"
            ) from None
        yield f
    finally:
        # a full disk fails this close's flush once more; it was reported above
        # (a good download was flushed by _Sink.digests before its check)
        with contextlib.suppress(OSError):
            f.close()
