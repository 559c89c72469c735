"""PyTorch's side of `make bench` in a process of its own: the twin of a bench net, and a server timing it.

    python benchmarks/torch_twin.py      (started by torch_compare.py, never by hand)

Why a process of its own: scratchdream raises glibc's malloc thresholds for the whole process when it is
imported (layers/fast/heap.py), so a torch running beside it allocates under them too. In one process its
1024-px VGG16 step read 4.4, 7.1 and 8.9 s in three runs of the same bench, so the ratios at that size said
more about the heap than about either framework. This module imports torch and NumPy only, never
scratchdream: the twin's heap is glibc's own, as in any PyTorch program.

The server reads one JSON request a line on stdin and answers one JSON line on stdout. The parent
(torch_compare.Remote) sends the net as its layer list and a .npz of its weights, and the arrays of each
run as a .npz file (loaded with allow_pickle=False); the server keeps what it made under a number and times
a run itself, so the pipe's round trip is not in the figure:
    {"op": "hello"}                                   -> {"pid": .., "scratchdream": false}
    {"op": "threads", "n": 2}                         -> {}
    {"op": "twin", "layers": [..], "params": path, "keys": [[layer, key], ..], "target": name} -> {"id": k}
    {"op": "step", "twin": k, "arrays": path}         -> {"id": k}   (x)
    {"op": "conv", "hp": {..}, "arrays": path}        -> {"id": k}   (x, w, dy and maybe b)
    {"op": "run", "id": k, "clock": "wall" | "cpu"}   -> {"s": seconds of one run}
    {"op": "run", "id": k, "save": path}              -> the same, and what the run returned (a step's
                                                         dL/dx) saved to path as a .npz of "out"
    {"op": "peak", "id": k}                           -> {"peak_mb": MB two runs add to the resident set}
    {"op": "forget", "id": k}                         -> {}
A failed request answers {"error": "..."}; end of input ends the server.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


# ---- the twin: a bench net's layers walked with torch's layers ------------------------------------
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
    """A torch.nn.Module that walks a net's layers ({name, kind, inputs, hp}: a scratchdream Net's, or the
    same sent as JSON) with torch's layers and the net's weights ({layer: {"weight": .., "bias": ..}})."""

    def __init__(self, layers, params, target):
        super().__init__()
        self.layers, self.target = list(layers), target
        self.convs = torch.nn.ModuleDict(
            {
                _module_key(layer["name"]): _twin_conv(layer["hp"], params[layer["name"]])
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


def torch_step(model, x):
    """The dream step in torch: h = model(x), L = ½‖h‖², dL/dx by autograd with dL/dh = h."""
    x = x.detach().requires_grad_(True)
    h = model(x)
    (dx,) = torch.autograd.grad(h, x, grad_outputs=h.detach())
    return dx


def step(model, x):
    """One dream step of the twin on x (1, 3, H, W), as a function of no arguments."""
    xt = torch.tensor(x)
    return lambda: torch_step(model, xt)


def conv(x, w, b, hp, dy):
    """One conv layer's forward and input gradient in torch, as a function of no arguments."""
    xt, wt, dyt = torch.tensor(x), torch.tensor(w), torch.tensor(dy)
    bt = torch.tensor(b) if b is not None else None
    t, bottom, left, r = hp["pad"]
    stride, dilation = tuple(hp["stride"]), tuple(hp["dilation"])

    def run():
        xg = xt.detach().requires_grad_(True)
        yt = F.conv2d(F.pad(xg, (left, r, t, bottom)), wt, bt, stride, 0, dilation, hp["groups"])
        yt = torch.relu(yt) if hp.get("relu") else yt
        torch.autograd.grad(yt, xg, dyt)

    return run


# ---- the server --------------------------------------------------------------------------------------
def _status_kb(field):
    """A line of /proc/self/status in kB (VmRSS: resident now, VmHWM: its high-water mark)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _peak_mb(run):
    """MB two runs add to the resident set: the high-water mark reset to the RSS first (Linux)."""
    base = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    run()
    run()
    return (_status_kb("VmHWM") - base) / 1024


class Server:
    """What the requests made, by number, and the answer to each request."""

    def __init__(self):
        self.made = {}

    def keep(self, thing):
        self.made[len(self.made) + 1] = thing
        return {"id": len(self.made)}

    def answer(self, req):
        op = req["op"]
        if op == "hello":
            return {
                "pid": os.getpid(),
                "scratchdream": any(m.split(".")[0] == "scratchdream" for m in sys.modules),
            }
        if op == "threads":
            torch.set_num_threads(int(req["n"]))
            return {}
        if op == "twin":
            weights = _arrays(req["params"])
            params = {}
            for i, (layer, key) in enumerate(req["keys"]):
                params.setdefault(layer, {})[key] = weights[f"p{i}"]
            return self.keep(SpecNet(req["layers"], params, req["target"]).eval())
        if op == "step":
            return self.keep(step(self.made[req["twin"]], _arrays(req["arrays"])["x"]))
        if op == "conv":
            a = _arrays(req["arrays"])
            return self.keep(conv(a["x"], a["w"], a.get("b"), req["hp"], a["dy"]))
        if op == "run":
            clock = time.process_time if req.get("clock") == "cpu" else time.perf_counter
            t = clock()
            out = self.made[req["id"]]()
            seconds = clock() - t
            if req.get("save"):
                np.savez(req["save"], out=out.detach().numpy())
            return {"s": seconds}
        if op == "peak":
            return {"peak_mb": _peak_mb(self.made[req["id"]])}
        if op == "forget":
            self.made[req["id"]] = None
            return {}
        return {"error": f"unknown request {op!r}"}


def serve(lines=sys.stdin, out=sys.stdout):
    server = Server()
    for line in lines:
        try:
            reply = server.answer(json.loads(line))
        except Exception as e:  # noqa: BLE001 - told to the parent, which raises it there
            reply = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
