"""The two targets of issue 18 that need a fresh process: the cold first dream and the 1024x768 dream.

    cold first dream   `scratchdream dream` on a 320x240 picture with toyworld, in a fresh interpreter with
                       an empty Numba cache (NUMBA_CACHE_DIR) and no cost model (XDG_CACHE_HOME), as on a
                       fresh clone: wall seconds from the start to the first step, the first "L=" of the
                       progress bar (stderr read as it comes, SCRATCHDREAM_NOTES=1 as at a terminal); the
                       process is stopped there
    dream 1024x768     `scratchdream dream` with the defaults (`make dream`) on a 1024x768 picture with
                       GoogLeNet's architecture (random weights in bvlc_googlenet's layout, written to a
                       temporary weights folder), Numba's own cache: wall seconds of the whole process,
                       after a small dream with the same net that compiles whatever is not cached yet
Pictures are the toy world's plain sky (no photo is needed). `scratchdream bench` runs both unless
--no-dreams; a figure that could not be measured is nan ("not measured").
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

COLD, BIG = "cold first dream", "dream 1024x768"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout: the child imports it


def first_step_at(chunks, mark=b"L="):
    """The time of the first chunk of stderr in which `mark` (the progress bar's loss) has appeared,
    from [(seconds, bytes)] as read; None if it never did. A mark split across two chunks counts."""
    tail = b""
    for t, data in chunks:
        if mark in tail + data:
            return t
        tail = (tail + data)[-len(mark) + 1 :]
    return None


def timed_run(argv, env, stop_at_first_step=False):
    """Run `python -m scratchdream argv` with `env`; (seconds to the first step or None, seconds in all,
    exit code). stop_at_first_step: end the process there (its own exit code is then not asked)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "scratchdream", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    chunks, first = [], None
    while True:
        data = os.read(p.stderr.fileno(), 65536)
        if not data:
            break
        chunks.append((time.perf_counter() - t0, data))
        first = first if first is not None else first_step_at(chunks[-2:])
        if first is not None and stop_at_first_step:
            p.kill()
            break
    p.stderr.close()
    code = p.wait()
    return first, time.perf_counter() - t0, 0 if stop_at_first_step and first is not None else code


def _env(**more):
    env = dict(os.environ, **more)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _sky(path, h, w):
    from .image_io import save_image
    from .toyworld import scenes

    save_image(path, scenes.plain_background("sky", size=h, width=w))


def cold_first_dream(tmp):
    """Seconds to the first step of a toyworld dream on 320x240, on empty caches; nan if it failed."""
    _sky(os.path.join(tmp, "sky320.png"), 240, 320)
    env = _env(
        NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
        XDG_CACHE_HOME=os.path.join(tmp, "xdg"),
        SCRATCHDREAM_NOTES="1",
    )
    argv = [
        "dream",
        os.path.join(tmp, "sky320.png"),
        "--net",
        "toyworld",
        "-o",
        os.path.join(tmp, "cold.png"),
    ]
    first, _, code = timed_run(argv, env, stop_at_first_step=True)
    return float("nan") if first is None or code != 0 else first


def googlenet_weights(folder, random_params):
    """Write googlenet.h5 into `folder`: bvlc GoogLeNet's architecture, random_params(net)'s weights."""
    from .nets import zoo
    from .nets.graph import Net
    from .weights_io import save_net

    net = Net(zoo.spec_for("googlenet"))
    net.dream_defaults = dict(zoo.entry("googlenet").dream_defaults)
    net.set_params(random_params(net))
    save_net(net, os.path.join(folder, "googlenet.h5"))


def dream_1024(tmp, random_params):
    """Wall seconds of `scratchdream dream PICTURE --net googlenet` (defaults), 1024x768; nan if failed."""
    googlenet_weights(tmp, random_params)
    picture = os.path.join(tmp, "photo1024.png")
    _sky(picture, 768, 1024)
    env = _env(SCRATCHDREAM_WEIGHTS=tmp)
    out = os.path.join(tmp, "dream.png")
    warm = [
        "dream",
        picture,
        "--net",
        "googlenet",
        "--max-size",
        "224",
        "--octaves",
        "1",
        "--steps",
        "1",
        "-o",
        out,
    ]
    if timed_run(warm, env)[2] != 0:
        return float("nan")
    _, seconds, code = timed_run(["dream", picture, "--net", "googlenet", "-o", out, "--force"], env)
    return seconds if code == 0 else float("nan")


def measure(random_params):
    """{COLD: seconds, BIG: seconds}, each in its own temporary folder (nan where a run failed);
    random_params(net): the weights of the 1024x768 dream's net (bench.random_params)."""
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures[COLD] = cold_first_dream(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        figures[BIG] = dream_1024(tmp, random_params)
    return figures


def line(figures):
    """The line the bench prints: both figures and the load average."""
    shown = {k: "failed" if not np.isfinite(v) else f"{v:.1f} s" for k, v in figures.items()}
    return (
        f"fresh-process dreams: first step of a cold toyworld 320x240 dream {shown[COLD]} (empty caches); "
        f"`make dream` 1024x768 GoogLeNet {shown[BIG]} (load average {os.getloadavg()[0]:.1f})"
    )
