"""Frames per second of `scratchdream video` serially and on 1 and 2 local Dask workers (docs/scale.md).

A generated clip (a yellow square crossing blue, no outside file) is dreamed by the toy-world net with the
video command's defaults, once per setting, each run a fresh `python -m scratchdream` process, so the
figures include everything a user waits for: the interpreter, the cluster's start, the weights' transfer,
the warm-up frames and the encoder. Every run cuts the clip the same way (--chunk 6 --warmup 2), so all do
the same work. The LocalCluster's own start-up is timed apart. Prints the load average before and after,
and the CPU seconds of each run's processes (which other work on the machine does not inflate, unlike the
wall clock).

    python benchmarks/video_scale.py [--frames 48] [--size 128x96] [--workers 1,2] [--chunk 6]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from scratchdream import distributed as dd  # noqa: E402
from scratchdream.video_io import Encoder  # noqa: E402


def clip(path, frames, W, H):
    video = Encoder(path, (W, H), fps=24)
    for k in range(frames):
        f = np.empty((H, W, 3), np.uint8)
        f[:] = (40, 90, 160)
        x = (2 * k) % (W - H // 3)
        f[H // 3 : 2 * H // 3, x : x + H // 3] = (230, 200, 40)
        video.add(f)
    video.close()


def dream_seconds(path, out, more):
    """(wall seconds, CPU seconds of the command and of every process under it, sampled every 0.2 s)."""
    import psutil  # comes with dask.distributed

    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "scratchdream", "video", path, "-o", out, "--net", "toyworld", *more]
    t0 = time.perf_counter()
    run = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu, top = {}, psutil.Process(run.pid)
    while run.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
        except psutil.Error:
            tree = []
        for proc in tree:
            try:
                t = proc.cpu_times()
                cpu[proc.pid] = t.user + t.system
            except psutil.Error:
                pass
        time.sleep(0.2)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return time.perf_counter() - t0, sum(cpu.values())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--size", default="128x96")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--chunk", type=int, default=6)
    args = p.parse_args(argv)
    W, H = (int(v) for v in args.size.split("x"))
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in [int(v) for v in args.workers.split(",")]:
        t0 = time.perf_counter()
        client = dd.local_client(n, os.cpu_count())
        started = time.perf_counter() - t0
        dd.close_client(client)
        print(f"LocalCluster of {n} worker process(es): started in {started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.mp4")
        clip(path, args.frames, W, H)
        chunks = ["--chunk", str(args.chunk), "--warmup", "2"]  # the same cut, so the same work, for all
        runs = [("serial (1 process)", chunks)] + [
            (f"--workers {n}", [*chunks, "--workers", n]) for n in args.workers.split(",")
        ]
        for k, (name, more) in enumerate(runs):
            s, cpu = dream_seconds(path, os.path.join(tmp, f"out{k}.mp4"), more)
            print(
                f"{name:20s} {args.frames} frames {W}x{H} in {s:6.1f} s: {args.frames / s:.3f} frames/s "
                f"(CPU {cpu:.1f} s, {cpu / args.frames:.2f} s a frame, load {os.getloadavg()[0]:.1f})"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
