"""A dream's CPU and wall-clock time with OpenMP's waiting threads sleeping (OMP_WAIT_POLICY=PASSIVE, what
`import scratchdream` sets) and spinning (libgomp's default: 300000 spins before sleeping).

    .venv/bin/python benchmarks/wait_policy.py                 # 4 processes per policy, alternated
    .venv/bin/python benchmarks/wait_policy.py --processes 2 --side 96

Each process dreams once to compile (or load) the kernels, then times DREAMS dreams of a random-weight
GoogLeNet-shaped net (to inception_4c/output), 2 octaves x 3 steps, as benchmarks/estimate_vs_measured.py
does. The processes alternate passive, spin, passive, spin, ... so that a change in the machine's load
falls on both. The spinning process removes the variable after `import scratchdream`, before Numba loads
libgomp (at the first parallel kernel), which is where libgomp reads it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DREAMS = 3
SETTINGS = {"octaves": 2, "steps": 3, "seed": 0}


def child(policy, side):
    """Print one JSON line: the CPU and wall-clock seconds of each timed dream in this process."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from dream_pictures import sky
    from shaped_nets import zoo_shaped

    import scratchdream as sd

    if policy == "spin":
        os.environ.pop("OMP_WAIT_POLICY", None)  # libgomp is not loaded yet: it will read the default
    net = zoo_shaped("googlenet", "inception_4c/output")
    img = sky(side, side, seed=1)
    sd.dream(net, img, progress=False, **SETTINGS)  # compile or load every kernel
    cpu, wall = [], []
    for _ in range(DREAMS):
        t0, c0 = time.perf_counter(), time.process_time()
        sd.dream(net, img, progress=False, **SETTINGS)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"policy": policy, "cpu": cpu, "wall": wall}))


def run(policy, side):
    """The timings of one child process."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", policy, "--side", str(side)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--processes", type=int, default=4, help="processes per policy (default 4)")
    p.add_argument("--side", type=int, default=160, help="picture side in pixels (default 160)")
    p.add_argument("--child", choices=["passive", "spin"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.side)
        return 0
    times = {"passive": {"cpu": [], "wall": []}, "spin": {"cpu": [], "wall": []}}
    loads = [os.getloadavg()[0]]
    for i in range(args.processes):
        for policy in ("passive", "spin"):
            r = run(policy, args.side)
            times[policy]["cpu"] += r["cpu"]
            times[policy]["wall"] += r["wall"]
            loads.append(os.getloadavg()[0])
            cpu, wall = (" ".join(f"{t:.2f}" for t in r[k]) for k in ("cpu", "wall"))
            print(f"{i + 1} {policy:7s} cpu {cpu} s, wall {wall} s (load {loads[-1]:.1f})", flush=True)
    print(f"load average (1 min) {min(loads):.1f}-{max(loads):.1f}; {args.side}x{args.side}, "
          f"{args.processes} processes x {DREAMS} dreams per policy: median (min-max)")  # fmt: skip
    for policy, t in times.items():
        cpu, wall = t["cpu"], t["wall"]
        print(f"{policy:7s} CPU {statistics.median(cpu):.2f} s ({min(cpu):.2f}-{max(cpu):.2f}), "
              f"wall {statistics.median(wall):.2f} s ({min(wall):.2f}-{max(wall):.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
