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


def test_an_error_puts_every_kernel_back_without_waiting(tmp_path):
    seen = _run(ERROR, tmp_path)
    assert seen == {"active": False, "restored": True}, seen
