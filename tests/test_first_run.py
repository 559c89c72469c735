"""A fresh install's first dream (layers/fast/first_run.py): the parallel kernels not in Numba's cache run on
their serial twins, the same numbers, until a background thread has compiled them and put them back.

Each case runs in a fresh interpreter on an empty NUMBA_CACHE_DIR (a fresh install); this process's own
kernels are compiled already.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# relu's forward through its twin, then the background compile; prints what each stage saw, as JSON
TWINS = """
import json, os, numpy as np
from scratchdream.layers import relu as reference
from scratchdream.layers.fast import first_run, relu
x = np.random.default_rng(0).standard_normal((1, 8, 64, 64)).astype(np.float32)  # parallel-sized
n = first_run.enable()
twin = relu._relu_nb
serial_y, _ = relu.relu_forward(x)
seen = {"twins": n, "is_twin": isinstance(twin, first_run._Twin), "pending": len(twin.pending),
        "parallel_compiled": len(twin.parallel.signatures)}
first_run.start()
first_run.finish()
y, _ = relu.relu_forward(x)
ref, _ = reference.relu_forward(x)
seen.update(restored=relu._relu_nb is twin.parallel, parallel_after=len(twin.parallel.signatures),
            cached=os.path.exists(twin.parallel._cache._cache_file._index_path),
            same=bool(np.array_equal(serial_y, y) and np.array_equal(y, ref)), active=first_run.active(),
            again=first_run.enable())
print(json.dumps(seen))
"""

# an error inside the block: the kernels are put back at once, without waiting for any compile
ERROR = """
import json, numpy as np
from scratchdream.layers import kernel_sets
from scratchdream.layers.fast import first_run, relu
x = np.ones((1, 8, 64, 64), np.float32)
try:
    with kernel_sets.serial_first():
        relu.relu_forward(x)
        raise KeyError("stop")
except KeyError:
    pass
print(json.dumps({"active": first_run.active(), "restored": not isinstance(relu._relu_nb, first_run._Twin)}))
"""


# Winograd 3x3 and 5x5 convolutions (their kernels are called through winograd.Kernels, not by module
# attribute): forward and input gradient on the twins, before any background compile
WINOGRAD = """
import json, numpy as np
from scratchdream.layers.fast import conv, first_run, winograd, winograd5
from scratchdream.layers.geometry import Geometry
first_run.enable()
rng = np.random.default_rng(0)
for r, pad in ((3, 1), (5, 2)):
    x = rng.standard_normal((1, 16, 40, 40)).astype(np.float32)
    w = rng.standard_normal((16, 16, r, r)).astype(np.float32)
    y, cache = conv.conv_forward(x, w, None, Geometry(r, r, 1, 1, pad, pad, pad, pad), True)
    conv.conv_backward(np.ones_like(y), cache)
names = ("_weights_nb", "_input_nb", "_output_nb", "_grad_output_nb", "_grad_input_nb")
twins = [getattr(m, n) for m in (winograd, winograd5) for n in names]
seen = {"twins": all(isinstance(t, first_run._Twin) for t in twins),
        "ran_serial": [len(t.pending) for t in twins],
        "parallel_compiled": [len(t.parallel.signatures) for t in twins]}
first_run.finish(wait=False)
print(json.dumps(seen))
"""


def _run(code, tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=REPO)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_serial_twins_until_the_background_compile_puts_the_parallel_kernels_back(tmp_path):
    seen = _run(TWINS, tmp_path)
    assert seen["twins"] >= 20 and seen["is_twin"], seen  # every parallel kernel of layers/fast/
    assert seen["pending"] == 1 and seen["parallel_compiled"] == 0, seen  # the twin ran, parallel not built
    assert seen["restored"] and seen["parallel_after"] == 1 and seen["cached"], seen
    assert seen["same"] and not seen["active"], seen
    assert seen["again"] == seen["twins"] - 1, seen  # relu's is in the cache now: no twin for it


def test_winograd_convolutions_run_on_the_twins_too(tmp_path):
    """The transforms winograd.forward calls through its Kernels are the module's current ones: on a fresh
    install the serial twins (compiling the five parallel ones first had cost a toyworld dream 11 s)."""
    seen = _run(WINOGRAD, tmp_path)
    assert seen["twins"], seen
    assert seen["ran_serial"] == [1] * 10 and seen["parallel_compiled"] == [0] * 10, seen


def test_an_error_puts_every_kernel_back_without_waiting(tmp_path):
    seen = _run(ERROR, tmp_path)
    assert seen == {"active": False, "restored": True}, seen


def test_a_cold_dream_end_to_end_writes_the_warm_dreams_bytes(tmp_path):
    """`scratchdream dream` on an empty cache runs serial twins, then the parallel kernels; the next run (a
    warm cache, parallel kernels only) writes the same bytes. The first says what it still does after its
    picture, and measures the machine after it too."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.update(PYTHONPATH=REPO, SCRATCHDREAM_NOTES="1")
    sky = str(tmp_path / "sky.png")
    make = "from scratchdream.toyworld import scenes; from scratchdream.image_io import save_image; "
    make += f"save_image({sky!r}, scenes.plain_background('sky', size=60, width=80))"
    subprocess.run([sys.executable, "-c", make], env=env, check=True, cwd=REPO)
    errs = []
    for out in ("cold.png", "warm.png"):
        argv = [
            "dream",
            sky,
            "--net",
            "toyworld",
            "--octaves",
            "2",
            "--steps",
            "2",
            "-o",
            str(tmp_path / out),
        ]
        r = subprocess.run(
            [sys.executable, "-m", "scratchdream", *argv], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        errs.append(r.stderr)
    assert (tmp_path / "cold.png").read_bytes() == (tmp_path / "warm.png").read_bytes()
    assert "rough: this machine is not measured yet" in errs[0], errs[0]
    later = errs[0].index("compiling the parallel kernels for the next runs")
    assert errs[0].index("100%") < later < errs[0].index("measuring this machine's speed once"), errs[0]
    assert "compiling" not in errs[1] and "rough" not in errs[1] and "measuring" not in errs[1], errs[1]
