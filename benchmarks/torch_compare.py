"""scratchdream against PyTorch: the same dream step with the same weights on this CPU (`make bench`).

    .venv/bin/python benchmarks/torch_compare.py [the options of `scratchdream bench`, e.g. --sizes 224]

This is `scratchdream bench` (scratchdream/bench.py) with PyTorch as its `Rival`: beside each of
scratchdream's figures, the same figure for a torch twin of the net. The twin is plain torch.nn (no
torchvision) that walks the zoo's own spec, the one `bench.build_sd` builds from nets/archs/, with the
same random weights (requires_grad=False) and the same thread count. Steps alternate between the two
frameworks so that a busy machine slows both alike. tests/test_bench.py holds the twin to scratchdream's
h and dL/dx. torch is needed here and in the tests only, never by the package.
"""

import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout: this repo's package first

from scratchdream import bench  # noqa: E402
from scratchdream.cli import build_parser  # noqa: E402
from scratchdream.errors import UserError  # noqa: E402


# ---- the twin: the zoo's spec walked with torch's layers -------------------------------------------
def _module_key(name):
    return name.replace("/", "|").replace(".", "_")  # ModuleDict keys may hold neither


def _twin_conv(hp, p):
    """torch.nn.Conv2d with our weights; symmetric padding inside the module, other padding by F.pad."""
    w = torch.tensor(p["weight"])
    t, b, left, r = hp["pad"]
    m = torch.nn.Conv2d(
        w.shape[1] * hp["groups"],
        w.shape[0],
        tuple(w.shape[2:]),
        stride=tuple(hp["stride"]),
        padding=(t, left) if (t == b and left == r) else 0,
        dilation=tuple(hp["dilation"]),
        groups=hp["groups"],
        bias="bias" in p,
    )
    m.weight = torch.nn.Parameter(w, requires_grad=False)
    if "bias" in p:
        m.bias = torch.nn.Parameter(torch.tensor(p["bias"]), requires_grad=False)
    return m


class SpecNet(torch.nn.Module):
    """A torch.nn.Module that walks a scratchdream Net's layers with torch's layers and the Net's weights."""

    def __init__(self, net, target):
        super().__init__()
        self.layers, self.target = list(net.layers), target
        self.convs = torch.nn.ModuleDict(
            {
                _module_key(layer["name"]): _twin_conv(layer["hp"], net.params[layer["name"]])
                for layer in self.layers
                if layer["kind"] == "conv"
            }
        )

    def forward(self, x):
        acts = {"data": x}
        for layer in self.layers:
            ins = [acts[s] for s in layer["inputs"]]
            acts[layer["name"]] = self.run(layer, ins)
        return acts[self.target]

    def run(self, layer, ins):
        kind, hp = layer["kind"], layer["hp"]
        if kind == "conv":
            t, b, left, r = hp["pad"]
            x = ins[0] if (t == b and left == r) else F.pad(ins[0], (left, r, t, b))
            y = self.convs[_module_key(layer["name"])](x)
            return torch.relu(y) if hp.get("relu") else y
        if kind == "relu":
            return torch.relu(ins[0])
        if kind == "maxpool":
            t, _, left, _ = hp["pad"]
            k, s = tuple(hp["kernel"]), tuple(hp["stride"])
            return F.max_pool2d(ins[0], k, s, (t, left), ceil_mode=hp.get("ceil", False))
        if kind == "lrn":
            return F.local_response_norm(ins[0], hp["size"], hp["alpha"], hp["beta"], hp.get("k", 1.0))
        if kind == "concat":
            return torch.cat(ins, 1)
        raise NotImplementedError(f"the torch twin has no layer kind {kind!r}")


def build_torch(net, target):
    return SpecNet(net, target).eval()


def torch_step(model, x):
    """The dream step in torch: h = model(x), L = ½‖h‖², dL/dx by autograd with dL/dh = h."""
    x = x.detach().requires_grad_(True)
    h = model(x)
    (dx,) = torch.autograd.grad(h, x, grad_outputs=h.detach())
    return dx


# ---- the Rival record scratchdream/bench.py runs beside its own steps -------------------------------
def step(model, x):
    xt = torch.tensor(x)
    return lambda: torch_step(model, xt)


def conv(x, w, b, hp, dy):
    """One conv layer's forward and input gradient in torch, as a function of no arguments."""
    xt, wt, dyt = torch.tensor(x), torch.tensor(w), torch.tensor(dy)
    bt = torch.tensor(b) if b is not None else None
    t, bottom, left, r = hp["pad"]

    def run():
        xg = xt.detach().requires_grad_(True)
        stride, dilation = tuple(hp["stride"]), tuple(hp["dilation"])
        yt = F.conv2d(F.pad(xg, (left, r, t, bottom)), wt, bt, stride, 0, dilation, hp["groups"])
        yt = torch.relu(yt) if hp.get("relu") else yt
        torch.autograd.grad(yt, xg, dyt)

    return run


def memory_probe(name, size, threads):
    """Run in a subprocess: build the net and its twin, then print what two torch steps need."""
    bench.set_threads(threads)
    torch.set_num_threads(threads)
    net, target = bench.build_sd(name)
    bench.print_step_peak(step(build_torch(net, target), bench.bench_input(size)))


def peak_mb(name, size, threads):
    """MB two torch steps need, measured in a fresh process as bench.peak_mb measures scratchdream's."""
    call = f"memory_probe({name!r}, {size}, {threads})"
    return bench.probe_peak_mb(
        f"import sys; sys.path.insert(0, {HERE!r}); import torch_compare; torch_compare.{call}"
    )


TORCH = bench.Rival(
    "torch", build=build_torch, step=step, conv=conv, peak_mb=peak_mb, set_threads=torch.set_num_threads
)


def main(argv=None):
    args = build_parser().parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        return bench.run(args, rival=TORCH)
    except UserError as e:
        print(f"torch_compare: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
