"""NUMBA_NUM_THREADS: a value Numba would choke on is one line before Numba is imported.
OMP_WAIT_POLICY: PASSIVE on `import scratchdream` unless the user set it, and OpenMP sees it."""

import os
import subprocess
import sys

import pytest

from scratchdream.errors import UserError
from scratchdream.numba_threads import MAX_THREADS, check_numba_threads, wait_passively

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "2.5", "1e3", str(MAX_THREADS + 1), "100000"])
def test_a_value_numba_cannot_use_is_one_line_that_says_what_works(text):
    with pytest.raises(
        UserError,
        match=rf"^NUMBA_NUM_THREADS={text!r} does not work: set it to a whole number from 1 to 1024 ",
    ) as err:
        check_numba_threads({"NUMBA_NUM_THREADS": text})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "environ", [{}, {"NUMBA_NUM_THREADS": "1"}, {"NUMBA_NUM_THREADS": " 4 "}, {"NUMBA_NUM_THREADS": "1024"}]
)
def test_unset_or_a_whole_number_in_range_passes(environ):
    assert check_numba_threads(environ) is None


def test_waiting_threads_sleep_unless_the_user_chose():
    environ = {}
    wait_passively(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("theirs", ["ACTIVE", "active", "passive", ""])
def test_the_users_wait_policy_is_kept(theirs):
    environ = {"OMP_WAIT_POLICY": theirs, "NUMBA_NUM_THREADS": "2"}
    wait_passively(environ)
    assert environ == {"OMP_WAIT_POLICY": theirs, "NUMBA_NUM_THREADS": "2"}


# After `import scratchdream`, one parallel kernel; OMP_DISPLAY_ENV=VERBOSE makes libgomp print what it
# read when Numba loads it, GOMP_SPINCOUNT included (its OMP_WAIT_POLICY line says PASSIVE when unset too).
PARALLEL_AFTER_IMPORT = """
import os, numba, numpy as np
import scratchdream
print("policy", os.environ.get("OMP_WAIT_POLICY"))
@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(a.size):
        s += a[i]
    return s
total(np.ones(8))
print("layer", numba.threading_layer())
"""


@pytest.mark.parametrize(
    "theirs, policy, spins",
    [(None, "PASSIVE", "0"), ("ACTIVE", "ACTIVE", "30000000000"), ("", "", "300000")],  # libgomp's spins
)
def test_openmp_reads_the_policy_set_on_import(theirs, policy, spins):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""))
    if theirs is not None:
        env["OMP_WAIT_POLICY"] = theirs
    r = subprocess.run([sys.executable, "-c", PARALLEL_AFTER_IMPORT], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"policy {policy}\n" in r.stdout
    if "layer omp" not in r.stdout:
        pytest.skip(f"Numba's threading layer here is not OpenMP: {r.stdout.splitlines()[-1]}")
    if "GOMP_SPINCOUNT" not in r.stderr:
        pytest.skip("this OpenMP runtime is not GNU libgomp (no GOMP_SPINCOUNT in OMP_DISPLAY_ENV)")
    assert f"GOMP_SPINCOUNT = '{spins}'" in r.stderr
