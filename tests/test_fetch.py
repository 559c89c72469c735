"""fetch() against a local HTTP server started here (127.0.0.1, random port, a thread): good file, each
checksum kind, wrong checksum, truncated body, server gone mid-download, no server, HTTP errors, resumes,
Ctrl-C, read-only folder. After every failure the folder holds nothing; after success, only the file."""

import contextlib
import hashlib
import http.server
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from scratchdream import fetch as fetch_mod
from scratchdream.cli.flags import FLAGS
from scratchdream.errors import UserError
from scratchdream.fetch import fetch

DATA = np.random.default_rng(0).integers(0, 256, 3 * fetch_mod.CHUNK // 2, dtype=np.uint8).tobytes()
SHA256 = hashlib.sha256(DATA).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves DATA; server.mode picks the misbehaviour. Honors `Range: bytes=N-` unless mode is 'norange'."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        if srv.mode == "404":
            self.send_error(404)
            return
        start, rng = 0, self.headers.get("Range")
        if rng and srv.mode != "norange":
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(DATA):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(DATA) - start))
        self.end_headers()
        body = DATA[start:]
        first_time = len(srv.requests) == 1
        if srv.mode == "truncated" or (srv.mode in ("flaky", "norange") and first_time):
            self.wfile.write(body[: len(body) // 2])  # Content-Length says more; then close
            self.close_connection = True
        elif srv.mode == "gone":
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            srv.server_close_soon()  # the server disappears mid-transfer
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.wfile.write(body)


@contextlib.contextmanager
def serve(mode="good"):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.mode, srv.requests = mode, []

    def close_soon():
        srv.socket.close()  # no new connections from now on

    srv.server_close_soon = close_soon
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv, f"http://127.0.0.1:{srv.server_address[1]}/bvlc_test.caffemodel"
    finally:
        srv.shutdown()
        with contextlib.suppress(OSError):
            srv.server_close()
        thread.join(5)


def _fetch(url, dest, **kw):
    kw = kw or {"sha256": SHA256}
    t0 = time.monotonic()
    try:
        return fetch(url, dest, progress=False, timeout=5, **kw)
    finally:
        assert time.monotonic() - t0 < 30  # bounded: no hang on a misbehaving server


def _fails(url, dest, match, **kw):
    with pytest.raises(UserError, match=match) as e:
        _fetch(url, dest, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    assert os.listdir(os.path.dirname(dest)) == []  # nothing left behind
    return msg


@pytest.mark.parametrize("kind", ["sha256", "sha1", "md5", "sha256_prefix"])
def test_good_file_each_checksum_kind(tmp_path, kind):
    value = {
        "sha256": SHA256,
        "sha1": hashlib.sha1(DATA).hexdigest(),
        "md5": hashlib.md5(DATA).hexdigest(),
        "sha256_prefix": SHA256[:8],
    }[kind]
    dest = str(tmp_path / "w" / "net.caffemodel")
    with serve() as (srv, url):
        assert _fetch(url, dest, **{kind: value}) == dest
    assert Path(dest).read_bytes() == DATA
    assert os.listdir(tmp_path / "w") == ["net.caffemodel"]


def test_second_call_does_nothing(tmp_path):
    dest = str(tmp_path / "net.caffemodel")
    with serve() as (srv, url):
        _fetch(url, dest)
    before = os.stat(dest)
    assert _fetch(url, dest) == dest  # the server is gone: no request needed
    after = os.stat(dest)
    assert (before.st_mtime_ns, before.st_ino) == (after.st_mtime_ns, after.st_ino)


def test_wrong_checksum_is_refused_and_nothing_kept(tmp_path):
    with serve() as (srv, url):
        msg = _fails(url, str(tmp_path / "net.caffemodel"), "refusing the download", sha1="0" * 40)
    assert url in msg and str(tmp_path / "net.caffemodel") in msg


def test_truncated_transfer(tmp_path):
    dest = str(tmp_path / "net.caffemodel")
    with serve("truncated") as (srv, url):
        msg = _fails(url, dest, "cannot download")
    assert url in msg and dest in msg and f"of {len(DATA)} bytes" in msg  # says what to put where


def test_server_gone_mid_download(tmp_path):
    with serve("gone") as (srv, url):
        _fails(url, str(tmp_path / "net.caffemodel"), "cannot download .*")


def test_no_server(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bvlc_test.caffemodel"
    msg = _fails(url, str(tmp_path / "net.caffemodel"), "connection refused")
    assert msg.startswith(f"cannot download {url}") and "put the file" in msg


def test_http_error(tmp_path):
    with serve("404") as (srv, url):
        _fails(url, str(tmp_path / "net.caffemodel"), "HTTP 404")
        assert len(srv.requests) == 1  # a refusal is not retried


def test_dropped_connection_resumes_with_range(tmp_path):
    dest = str(tmp_path / "net.caffemodel")
    with serve("flaky") as (srv, url):
        _fetch(url, dest)
    assert Path(dest).read_bytes() == DATA
    assert srv.requests == [None, f"bytes={len(DATA) // 2}-"]


def test_server_without_range_support_restarts_cleanly(tmp_path):
    dest = str(tmp_path / "net.caffemodel")
    with serve("norange") as (srv, url):
        _fetch(url, dest)
    assert Path(dest).read_bytes() == DATA and len(srv.requests) == 2


@pytest.mark.parametrize("good", [True, False], ids=["good-part", "bad-part"])
def test_part_left_by_a_killed_run_is_resumed(tmp_path, good):
    dest = str(tmp_path / "net.caffemodel")
    head = DATA[:100_000] if good else b"x" * 100_000
    with open(dest + ".part", "wb") as f:
        f.write(head)
    with serve() as (srv, url):
        _fetch(url, dest)
    assert Path(dest).read_bytes() == DATA and os.listdir(tmp_path) == ["net.caffemodel"]
    # a good .part needs only the rest; a bad one is detected by the checksum and fetched again whole
    assert srv.requests == (["bytes=100000-"] if good else ["bytes=100000-", None])


def test_ctrl_c_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(self, chunk):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_mod._Sink, "write", interrupted)
    with serve() as (srv, url), pytest.raises(KeyboardInterrupt):
        _fetch(url, str(tmp_path / "net.caffemodel"))
    assert os.listdir(tmp_path) == []


def test_existing_file_that_does_not_match_is_left_alone(tmp_path):
    dest = tmp_path / "net.caffemodel"
    dest.write_bytes(b"something else")
    with pytest.raises(UserError, match="is there but is not the published file"):
        _fetch("http://127.0.0.1:9/x", str(dest))
    assert dest.read_bytes() == b"something else"


@contextlib.contextmanager
def _read_only_folder(path, monkeypatch):
    """A folder this process cannot write to: chmod for a normal user; for root (whom chmod does not stop)
    a read-only tmpfs where the system allows mounting, else the same answer os.access gives a normal user."""
    os.makedirs(path)
    if os.geteuid() != 0:
        os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)
        yield path
        os.chmod(path, stat.S_IRWXU)
        return
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", path], capture_output=True
        ).returncode
        == 0
        if shutil.which("mount")
        else False
    )
    if not mounted:
        real_access = os.access
        monkeypatch.setattr(
            fetch_mod,
            "os",
            types.SimpleNamespace(
                **{k: getattr(os, k) for k in dir(os) if not k.startswith("__")},
                access=lambda p, mode: False if os.path.abspath(p) == path else real_access(p, mode),
            ),
        )
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", path], capture_output=True)


def test_read_only_weights_folder(tmp_path, monkeypatch):
    with _read_only_folder(str(tmp_path / "ro"), monkeypatch) as folder:
        dest = os.path.join(folder, "net.caffemodel")
        with pytest.raises(UserError, match="read-only|cannot write") as e:
            _fetch("http://127.0.0.1:9/x", dest)
        assert "weights_dir" in str(e.value) and "\n" not in str(e.value)  # the parameter, in the library
        assert "--weights-dir" in e.value.worded(FLAGS)  # the flag, on the command line
        assert os.listdir(folder) == []


def test_cmd_fetch_hands_over_to_ensure_weights(monkeypatch, capsys):
    from scratchdream import cli

    calls = []

    def fake(name, weights_dir=None, progress=True):
        calls.append((name, weights_dir))
        if name == "offline":
            raise UserError("cannot download http://x/y (no server); to go on by hand: put it at /w/y")
        return f"{weights_dir}/{name}.h5"

    monkeypatch.setattr(fetch_mod, "ensure_weights", fake)
    assert cli.main(["fetch", "googlenet", "--weights-dir", "/w"]) == 0
    assert calls == [("googlenet", "/w")] and "/w/googlenet.h5" in capsys.readouterr().out
    assert cli.main(["fetch", "offline"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot download http://x/y" in err
