"""Video dreams on Dask (scratchdream/distributed.py): a LocalCluster of 2 processes, 1 thread each.

Each cluster start costs a few seconds, so there are three of them: serial against --workers 2 through
the command (the same frames, byte for byte), a worker killed in the middle of a chunk (every frame still
comes back once, and the same), and a scheduler that is not there (one line, exit 1, nothing written).
"""

import os
import signal

import numpy as np
import pytest
from PIL import Image
from video_clips import square_frames, write_clip

import scratchdream as sd
from scratchdream import cli
from scratchdream import distributed as dd
from scratchdream.deepdream.options import DreamOptions

FAST = ["--net", "toyworld", "--octaves", "1", "--steps", "2", "--jitter", "4"]


def _pngs(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    return [np.asarray(Image.open(os.path.join(folder, n))) for n in names]


def test_workers_2_gives_the_serial_frames(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", square_frames())
    args = ["video", str(clip), "--chunk", "6", "--warmup", "2", "--flow", "--keep-frames", *FAST]
    assert cli.main([*args, "-o", str(tmp_path / "serial.mp4")]) == 0
    assert cli.main([*args, "-o", str(tmp_path / "dask.mp4"), "--workers", "2"]) == 0
    serial, dask = _pngs(tmp_path / "serial_frames"), _pngs(tmp_path / "dask_frames")
    assert len(serial) == 24
    for a, b in zip(serial, dask, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_killed_worker_still_yields_every_frame_once(tmp_path):
    frames = square_frames()
    job = dd.Job(DreamOptions(octaves=1, steps=2, jitter=4, seed=5), 0.5, False)
    todo = dd.spans(24, 4, 2)
    serial = {}
    dd.run_serial(sd.load_net("toyworld"), dd.pieces(iter(frames), todo, None), job, serial.__setitem__)
    client = dd.local_client(2, 2)
    try:
        before = client.run(os.getpid)  # worker address -> process id
        got = []

        def on_frame(k, dream):
            if not got:  # the first chunk is back: the other worker is in the middle of its own
                busy = [a for a, tasks in client.processing().items() if tasks]
                os.kill(before[busy[0]], signal.SIGKILL)
            got.append((k, dream))

        weights = dd.read_weights("toyworld")
        dd.run_on_dask(client, weights, dd.pieces(iter(frames), todo, None), job, on_frame)
        after = client.run(os.getpid)
    finally:
        dd.close_client(client)
    assert set(after.values()) != set(before.values())  # a worker really died (its nanny started another)
    assert sorted(k for k, _ in got) == list(range(24))  # every frame once
    for k, dream in got:
        np.testing.assert_array_equal(dream, serial[k])


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", square_frames(n=3))
    before = sorted(os.listdir(tmp_path))
    argv = ["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--scheduler", "tcp://127.0.0.1:9", *FAST]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("scratchdream")]
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[0], err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("workers, cores, threads", [(1, 2, 2), (2, 2, 1), (3, 8, 2), (16, 4, 1)])
def test_numba_threads_times_workers_fit_the_cores(workers, cores, threads):
    assert dd.threads_per_worker(workers, cores) == threads


def test_many_pictures_on_2_workers_give_the_serial_bytes(tmp_path):
    names = []
    for k in range(4):
        names.append(str(tmp_path / f"p{k}.png"))
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            names[-1]
        )
    for sub in ("serial", "dask"):
        os.mkdir(tmp_path / sub)
    assert cli.main(["dream", *names, "-o", str(tmp_path / "serial") + "/", *FAST]) == 0
    assert cli.main(["dream", *names, "-o", str(tmp_path / "dask") + "/", "--workers", "2", *FAST]) == 0
    for k in range(4):
        a, b = (tmp_path / sub / f"p{k}_dream.png" for sub in ("serial", "dask"))
        assert a.read_bytes() == b.read_bytes()
