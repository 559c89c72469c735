"""scratchdream against PyTorch: the same dream step with the same weights on this CPU (`make bench`).

    .venv/bin/python benchmarks/torch_compare.py [the options of `scratchdream bench`, e.g. --sizes 224]

This is `scratchdream bench` (scratchdream/bench.py) with PyTorch as its `Rival`: beside each of
scratchdream's figures, the same figure for a torch twin of the net (torch_twin.py: plain torch.nn, no
torchvision, walking the zoo's own layers, the ones `bench.build_sd` builds from nets/archs/, with the same
random weights and the same thread count). The twin runs in a process of its own (`Remote`, below), which
never imports scratchdream and so allocates under glibc's own malloc thresholds, not the ones scratchdream
sets for its process (see torch_twin.py). Steps alternate between the two processes, one at a time, so that
a busy machine slows both alike; the child times its own runs. tests/test_bench.py holds the twin to
scratchdream's h and dL/dx. torch is needed here and in the tests only, never by the package.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout: this repo's package first

from scratchdream import bench  # noqa: E402
from scratchdream.cli import build_parser  # noqa: E402
from scratchdream.errors import UserError  # noqa: E402


def build_torch(net, target):
    """The twin of a scratchdream Net in this process (the tests hold its step to scratchdream's); the
    benchmark's own twin lives in the child. torch is imported here only when this is called."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    from torch_twin import SpecNet

    return SpecNet(net.layers, net.params, target).eval()


# ---- torch in a process of its own ----------------------------------------------------------------
class Remote:
    """A torch_twin server in a child process: each request one JSON line each way (torch_twin.py)."""

    def __init__(self, threads=None):
        self.files = tempfile.TemporaryDirectory(prefix="torch_twin_")
        self.count = 0
        self.live = {}  # "step" / "conv" -> the child's number of the one it holds now
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "torch_twin.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if threads:
            self.ask(op="threads", n=threads)

    def ask(self, **request):
        """The child's answer to one request; its error raised here."""
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the torch process ended (exit code {self.proc.wait()}) at {request['op']!r}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"torch process, {request['op']!r}: {reply['error']}")
        return reply

    def arrays(self, **arrays):
        """The arrays (None left out) in a .npz file for the child; its path."""
        self.count += 1
        path = os.path.join(self.files.name, f"{self.count}.npz")
        np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
        return path

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.files.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # the Rival's functions, each run a function of no arguments that returns the child's own seconds
    def build(self, net, target):
        keys = [(layer, key) for layer, p in net.params.items() for key in p]
        path = self.arrays(**{f"p{i}": net.params[layer][key] for i, (layer, key) in enumerate(keys)})
        layers = [{k: layer[k] for k in ("name", "kind", "inputs", "hp")} for layer in net.layers]
        return self.ask(op="twin", layers=layers, params=path, keys=keys, target=target)["id"]

    def made(self, kind, arrays, **request):
        """Have the child make a run of `kind` from the arrays; the run before of that kind is let go there
        (the bench times one at a time: a 1024-px layer's x and dy are hundreds of MB)."""
        path = self.arrays(**arrays)
        k = self.ask(op=kind, arrays=path, **request)["id"]
        os.remove(path)
        if kind in self.live:
            self.ask(op="forget", id=self.live[kind])
        self.live[kind] = k
        return k

    def runner(self, k):
        """One run of the child's number k, as a function of no arguments returning the child's seconds."""

        def run():
            clock = "cpu" if bench.CLOCK is time.process_time else "wall"  # --clock, as for our steps
            return self.ask(op="run", id=k, clock=clock)["s"]

        return run

    def step(self, twin, x):
        return self.runner(self.made("step", {"x": x}, twin=twin))

    def conv(self, x, w, b, hp, dy):
        return self.runner(self.made("conv", {"x": x, "w": w, "b": b, "dy": dy}, hp=hp))

    def set_threads(self, n):
        self.ask(op="threads", n=n)

    def rival(self):
        return bench.Rival(
            "torch",
            build=self.build,
            step=self.step,
            conv=self.conv,
            peak_mb=peak_mb,
            set_threads=self.set_threads,
        )


def peak_mb(name, size, threads):
    """MB two torch steps need, in a fresh torch process, as bench.peak_mb measures scratchdream's; nan
    if the probe failed (the table then says "not measured")."""
    net, target = bench.build_sd(name)
    try:
        with Remote(threads) as remote:
            k = remote.made("step", {"x": bench.bench_input(size)}, twin=remote.build(net, target))
            return remote.ask(op="peak", id=k)["peak_mb"]
    except (RuntimeError, OSError):
        return float("nan")


def main(argv=None):
    args = build_parser().parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        with Remote() as remote:
            return bench.run(args, rival=remote.rival())
    except UserError as e:
        print(f"torch_compare: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
