"""dream --checkpoint / --resume (issue 13, item 3): a run stopped after octave k and resumed gives the same
bytes as a run never stopped; a checkpoint of another run, or a damaged one, is one line.

Stopping: in-process, a Checkpoint.save that raises KeyboardInterrupt (Ctrl-C) once it has written octave
k; and end to end, SIGTERM to a `python -m scratchdream` process once its checkpoint file appears.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from cli_files import dream_files
from cli_files import main_in as _main
from cli_files import read_bytes as _bytes
from dream_pictures import sky
from PIL import Image

from scratchdream.deepdream import checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# three octaves, and tiles (100x120 picture, tiles of 48 px), so both random generators are in the state
DREAM = [
    "dream",
    "sky.png",
    "--net",
    "tiny.h5",
    "--octaves",
    "3",
    "--steps",
    "2",
    "--tile",
    "48",
    "--seed",
    "5",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = dream_files(tmp_path_factory.mktemp("resume"), 100, 120)
    assert _main(d, DREAM + ["-o", "whole.png"]) == 0  # the run never stopped
    return d


def _stop_after(monkeypatch, octave):
    """Checkpoint.save writes, then stops the run as Ctrl-C would, after `octave` (0 = the first)."""
    save = checkpoint.Checkpoint.save

    def save_then_stop(self, k, *rest):
        save(self, k, *rest)
        if k == octave:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpoint, "save", save_then_stop)


def _stopped_run(files, monkeypatch, octave, out="part.png", ck="ck.npz"):
    with monkeypatch.context() as m:
        _stop_after(m, octave)
        assert _main(files, DREAM + ["-o", out, "--checkpoint", ck, "--force"]) == 130
    assert not (files / out).exists() and (files / ck).exists()
    return files / ck


@pytest.mark.parametrize("octave", [0, 1, 2])  # 2: stopped after the last octave, before the picture
def test_a_resumed_run_gives_the_bytes_of_a_run_never_stopped(files, monkeypatch, octave):
    _stopped_run(files, monkeypatch, octave, out=f"part{octave}.png")
    assert _main(files, DREAM + ["-o", f"part{octave}.png", "--resume", "ck.npz"]) == 0
    assert _bytes(files / f"part{octave}.png") == _bytes(files / "whole.png")
    assert not (files / "ck.npz").exists()  # spent once the run is done


def test_the_checkpoint_holds_the_picture_and_both_generators(files, monkeypatch):
    ck = _stopped_run(files, monkeypatch, 1)
    with np.load(ck, allow_pickle=False) as z:
        meta, x = json.loads(str(z["meta"])), z["x"]
    assert meta["octave"] == 1 and meta["octaves"] == 3 and meta["tile_rng"] is not None
    assert x.dtype == np.float32 and x.shape == (1, 3, 71, 86)  # octave 2 of 100x120 at scale 1.4
    os.remove(ck)


@pytest.mark.parametrize(
    "change, text",
    [
        (["--steps", "3"], "saved by a run with other settings"),
        (["--net", "other.h5"], "saved by a run with other weights"),
        (["--image", "cloud.png"], "saved by a run with another input picture"),
    ],
)
def test_resume_with_another_run_is_one_line_exit_2(files, monkeypatch, capsys, change, text):
    _stopped_run(files, monkeypatch, 0)
    capsys.readouterr()
    argv = [a for a in DREAM]
    if change[0] == "--image":
        argv[1] = change[1]
    else:
        argv[argv.index(change[0]) + 1] = change[1]
    assert _main(files, argv + ["-o", "part.png", "--resume", "ck.npz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and text in err, err
    assert not (files / "part.png").exists() and (files / "ck.npz").exists()


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _damage(files, monkeypatch, how):
    ck = _stopped_run(files, monkeypatch, 0)
    with np.load(ck, allow_pickle=False) as z:
        meta, x = str(z["meta"]), z["x"]
    if how == "cut":
        ck.write_bytes(_bytes(ck)[:-100])
    elif how == "pickled":  # an object array: np.load would need pickle to read it
        with zipfile.ZipFile(ck, "w") as z:
            buf = io.BytesIO()
            np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
            z.writestr("meta.npy", buf.getvalue())
            z.writestr("x.npy", buf.getvalue())
    elif how == "huge":  # a header that declares 10^12 floats, with no data behind it
        with zipfile.ZipFile(ck, "w") as z:
            buf = io.BytesIO()
            np.save(buf, np.array(meta))
            z.writestr("meta.npy", buf.getvalue())
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f4", "fortran_order": False, "shape": (1, 3, 10**6, 10**6)}
            )
            z.writestr("x.npy", header.getvalue())
    elif how == "extra member":
        _npz(ck, meta=np.array(meta), x=x, more=x)
    elif how == "edited picture":
        _npz(ck, meta=np.array(meta), x=x + 1)
    elif how == "wrong size":
        _npz(ck, meta=np.array(meta), x=x[:, :, :-1])
    elif how == "unknown key":
        _npz(ck, meta=np.array(json.dumps({**json.loads(meta), "extra": 1})), x=x)
    elif how == "bad generator":
        bad = {**json.loads(meta), "jitter_rng": {"bit_generator": "MT19937", "state": 7}}
        _npz(ck, meta=np.array(json.dumps(bad)), x=x)
    elif how == "deep":
        _npz(ck, meta=np.array("[" * 500 + "]" * 500), x=x)
    elif how == "not a zip":
        ck.write_bytes(b"PK" + bytes(200))
    return ck


@pytest.mark.parametrize(
    "how, text",
    [
        ("cut", "not a complete .npz file"),
        ("pickled", "not plain numbers or text"),
        ("huge", "is cut short or too long"),
        ("extra member", "does not hold exactly meta and x"),
        ("edited picture", "its picture does not match its sha256"),
        ("wrong size", "its picture is float32 (1, 3, 50, 61), octave 1 is (1, 3, 51, 61)"),
        ("unknown key", "does not have the keys of a checkpoint"),
        ("bad generator", "random generator state"),
        ("deep", "not a short JSON text"),
        ("not a zip", "not a complete .npz file"),
    ],
)
def test_a_damaged_checkpoint_is_one_line(files, monkeypatch, capsys, how, text):
    _damage(files, monkeypatch, how)
    capsys.readouterr()
    assert _main(files, DREAM + ["-o", "part.png", "--resume", "ck.npz"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a usable checkpoint" in err and text in err, err
    assert not (files / "part.png").exists()


@pytest.mark.parametrize(
    "argv, text",
    [
        (["--checkpoint", "c.npz", "--gif"], "--gif cannot be combined with --checkpoint"),
        (["--checkpoint", "sky.png"], "--checkpoint sky.png is sky.png, a file of this run"),
        (["--checkpoint", "whole.png"], "already exists; pass --force"),
        (["--resume", "nosuch.npz"], "--resume nosuch.npz not found"),
    ],
)
def test_checkpoint_mistakes_are_one_line_before_any_work(files, capsys, argv, text):
    before = {name: _bytes(files / name) for name in ("sky.png", "whole.png")}
    assert _main(files, DREAM + ["-o", "part.png", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and text in err, err
    assert {name: _bytes(files / name) for name in before} == before and not (files / "part.png").exists()


def test_sigterm_then_resume_end_to_end(files):
    """A real process, killed by SIGTERM once its first checkpoint is on the disk, then resumed."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    Image.fromarray(sky(300, 400, seed=2)).save(files / "big.png")  # seconds per octave: time to kill it
    argv = [sys.executable, "-m", "scratchdream", "dream", "big.png", *DREAM[2:], "--steps", "10"]
    assert _main(files, argv[3:] + ["-o", "long_whole.png"]) == 0  # never stopped
    proc = subprocess.Popen(argv + ["-o", "long.png", "--checkpoint", "kill.npz"], cwd=files, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (files / "kill.npz").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err.decode()[-500:]
    assert not (files / "long.png").exists() and (files / "kill.npz").exists()
    resumed = subprocess.run(argv + ["-o", "long.png", "--resume", "kill.npz"], cwd=files, env=env,
                             capture_output=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr.decode()[-500:]
    assert _bytes(files / "long.png") == _bytes(files / "long_whole.png")
