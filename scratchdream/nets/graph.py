"""The network: a small directed graph of named layers, walked forward, then backward in reverse.

Slide 34 of the lecture: to push a neuron h_ij up we need dL/di_mn = dL/dh_ij · dh_ij/di_mn for every
pixel i_mn. The second factor is the chain rule through every layer between the pixels and h_ij;
`Net.backward` computes it "one more term" at a time, from the target layer back to the image.

A spec is plain data (it is stored as JSON in the weights file):
    {"name": "toyworld",
     "input": {"name": "data", "order": "RGB", "scale": 1.0, "mean": [..3], "std": [..3], "size": [H, W]},
     "layers": [{"name": "conv1", "kind": "conv", "inputs": ["data"],
                 "hp": {"out": 32, "kernel": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], ...}}, ...],
     "aliases": {"conv5_3": "features.28"},        # friendly names (optional)
     "labels": ["castle", ...] or None,             # class names when the net ends in a classifier
     "dream_layers": ["inception_4c/output"],       # suggested dream layers, first is the default
     "provenance": {...}}                           # where the weights came from (optional)
Layers are listed in an order where every input comes before the layer that reads it.
"""

import difflib
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..errors import UsageError, UserError
from ..layers import KINDS, geometry, kernels
from . import memory
from .lazy_params import LazyParams
from .spec import INPUT, validate


class Net:
    """A spec plus its parameters; forward to any layer, backward from it to the pixels."""

    def __init__(self, spec, params=None):
        validate(spec)  # every field, before anything reads it (nets/spec.py)
        self.spec = spec
        self.name = spec.get("name", "net")
        self.layers = [_normalise(layer) for layer in spec["layers"]]
        self.layer_names = [layer["name"] for layer in self.layers]
        self.labels = spec.get("labels")
        self.aliases = dict(spec.get("aliases") or {})
        self.dream_defaults = {}  # settings that suit this net (deepdream/defaults.py), from its weights file
        self.belief_prior = None  # {"layer", "p"}: its mean belief on empty scenes (objectives.py)
        self._by_name = {layer["name"]: layer for layer in self.layers}
        self.param_shapes = self._infer_param_shapes()
        self.params = {}
        if params is not None:
            self.set_params(params)
        self._plans = {}  # tuple of targets -> _Plan, made by the first forward to them
        kernels()  # the kernel set is chosen now: a wrong SCRATCHDREAM_KERNELS stops us before any work
        self._tape = None  # what the last forward kept for backward

    # ---- structure -------------------------------------------------------------------------
    def _infer_param_shapes(self):
        shapes = self.shapes(*self.spec["input"].get("size", [224, 224]), full=True)
        return {
            layer["name"]: KINDS[layer["kind"]].params([shapes[s] for s in layer["inputs"]], layer)
            for layer in self.layers
        }

    def shapes(self, H, W, full=False):
        """(C, H, W) of every layer's output for an H x W input (no computation, just the size formulas)."""
        out = {INPUT: (3, int(H), int(W))}
        for layer in self.layers:
            ins = [out[s] for s in layer["inputs"]]
            if full or all(min(s) > 0 for s in ins):
                out[layer["name"]] = tuple(int(v) for v in KINDS[layer["kind"]].shape(ins, layer))
            else:
                out[layer["name"]] = (0, 0, 0)
        return out

    def resolve(self, name):
        """The layer's own name for `name` (which may be an alias); otherwise a clear error naming close
        matches."""
        if name in self._by_name:
            return name
        if name in self.aliases:
            return self.aliases[name]
        known = self.layer_names + list(self.aliases)
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else "run `scratchdream layers NET` to list them"
        raise UsageError(f"{self.name} has no layer {name!r}; {hint}")

    def set_params(self, params, dtype=np.float32):
        """Install parameters, checking every name and shape against the architecture.

        They are stored as float32 (what dreaming uses); gradient checks of the parameters ask for float64.
        LazyParams (a weights file's, read when first used) are kept as they are: the reader has checked
        every name and shape against this same architecture."""
        if isinstance(params, LazyParams):
            wanted = {n: {k: tuple(v) for k, v in s.items()} for n, s in self.param_shapes.items() if s}
            if {n: {k: tuple(v) for k, v in s.items()} for n, s in params.shapes.items()} != wanted:
                raise UserError(
                    "the weights file's parameters do not match its architecture; convert it again"
                )
            self.params = params
            return
        new = {}
        for name, shapes in self.param_shapes.items():
            got = params.get(name, {})
            for key, shape in shapes.items():
                if key not in got:
                    raise UserError(
                        f"{name}: the weights have no {key!r}; were they converted for another net?"
                    )
                arr = np.asarray(got[key])
                if tuple(arr.shape) != tuple(shape):
                    raise UserError(
                        f"{name}: the weights have {key} {tuple(arr.shape)}, this net needs {tuple(shape)}; "
                        "were they converted for another net?"
                    )
                new.setdefault(name, {})[key] = np.ascontiguousarray(arr, dtype=dtype)
        self.params = new

    def params_as(self, dtype):
        """The parameters in `dtype`, layer by layer as they are asked for (so a forward reads, from a
        lazily loaded file, only the layers it runs): the stored arrays themselves when they already are
        (no copy, so an optimiser's in-place updates are seen), else a fresh cast (float64 gradient checks
        of a float32 net)."""
        return _Cast(self.params, np.dtype(dtype))

    def memory_estimate(self, H, W, upto=None, dtype=np.float32, batch=1, weight_grads=False):
        """Bytes a forward to `upto` and its backward hold at their peak, for `batch` H x W pictures.

        The sum and what it counts are in nets/memory.py; forward refuses a pass that does not fit."""
        return memory.estimate(self, H, W, upto, dtype, batch, weight_grads)

    def receptive_field(self, name):
        """Side of the input square that one output pixel of `name` sees (inf past a global layer)."""
        name = self.resolve(name)
        rf = {INPUT: (1.0, 1.0)}  # (receptive field, jump) per layer
        for layer in self.layers:
            r, j = max(rf[s] for s in layer["inputs"])
            hp = layer["hp"]
            if layer["kind"] in ("conv", "maxpool", "avgpool"):
                k = max(hp["kernel"])
                d = max(hp.get("dilation", [1, 1]))
                r, j = r + (d * (k - 1)) * j, j * max(hp["stride"])
            elif layer["kind"] in ("adaptive_avgpool", "flatten", "linear"):
                r = float("inf")
            rf[layer["name"]] = (r, j)
            if layer["name"] == name:
                return rf[name][0]
        raise UsageError(f"{self.name} has no layer {name!r}")

    def _ancestors(self, targets):
        need, stack = set(), list(targets)
        while stack:
            n = stack.pop()
            if n == INPUT or n in need:
                continue
            need.add(n)
            stack.extend(self._by_name[n]["inputs"])
        return [layer for layer in self.layers if layer["name"] in need]

    # ---- forward: the image in, the activations h out ---------------------------------------
    def forward(self, x, upto=None, keep=True, weight_grads=False):
        """Run the pixels x (N, 3, H, W) through the layers up to `upto` (a name, or a list of names).

        Returns its activation h (or a dict name -> h for a list). Slide 34's chain, first link first: each
        layer computes its output from the activations it reads. With keep=True the tape keeps each layer's
        cache for `backward`: only what dL/dI needs (a conv's input is not kept: its dx needs only the
        weights), unless weight_grads=True, for a backward(params=True) (training). An activation is
        dropped as soon as the last layer reading it has run.
        """
        x, targets = _network_input(x), self._targets(upto)
        memory.check(self, x.shape, targets, x.dtype, weight_grads)  # refuse what cannot fit, before
        plan, params = self._plan(targets), self.params_as(x.dtype)
        tape, acts = _Tape(kernels(), keep, x, weight_grads), {INPUT: x}
        for layer in plan.layers:
            xs, p = [acts[name] for name in layer["inputs"]], params.get(layer["params_of"], {})
            acts[layer["name"]] = tape.record(layer, KINDS[layer["kind"]].forward(tape.kernels, xs, p, layer))
            for name in plan.read_last_by[layer["name"]]:
                del acts[name]  # no later layer reads it
            memory.release_freed(acts[layer["name"]].nbytes)
        tape.outputs = {t: acts[t].shape for t in targets}
        self._tape = tape if keep else None
        return {t: acts[t] for t in targets} if isinstance(upto, (list, tuple)) else acts[targets[0]]

    def _targets(self, upto):
        """The layers forward runs to: `upto` (a name or a list of names; aliases resolved), else the last."""
        names = upto if isinstance(upto, (list, tuple)) else [self.layer_names[-1] if upto is None else upto]
        return [self.resolve(name) for name in names]

    def _plan(self, targets):
        """What a forward to `targets` runs (their ancestors, conv -> relu pairs fused) and when each
        activation can be dropped; made once per set of targets."""
        if tuple(targets) not in self._plans:
            run = _fuse_relus(self._ancestors(targets), targets)
            self._plans[tuple(targets)] = _Plan(run, _read_last_by(run, targets))
        return self._plans[tuple(targets)]

    # ---- backward: dL/dh in, dL/dI out (slide 34's chain rule, one layer at a time) -----------
    def backward(self, dL_dh, params=False):
        """Chain dL/dh back to dL/dI, one layer at a time in reverse order (slide 34: "one more term").

        `dL_dh` is the gradient at the layer of the last forward (a dict name -> gradient when forward was
        given a list). Each layer's backward turns the gradient of its output into those of its inputs;
        where one activation feeds several layers (an Inception module's input) their gradients add up.
        With params=True it also returns {layer: {"weight": dw, ..}}, for training (after a forward with
        weight_grads=True).
        """
        tape, grads = self._spend_tape(dL_dh, params)  # grads: activation name -> dL/d(activation), summed
        weight_grads = {}
        for layer, cache in tape.unwind():  # last layer first; each cache is let go once used
            if layer["name"] not in grads:
                continue  # nothing flows back through this layer
            dxs, dw = KINDS[layer["kind"]].backward(tape.kernels, grads.pop(layer["name"]), cache, params)
            for src, dx in zip(layer["inputs"], dxs):
                grads.add(src, dx)  # paths meet: gradients add (_Sums.add: grads[src] + dx)
            memory.release_freed(max(dx.nbytes for dx in dxs))
            if dw:
                weight_grads[layer["params_of"]] = dw
        dL_dI = grads[INPUT] if INPUT in grads else np.zeros(tape.x_shape, tape.x_dtype)
        return (dL_dI, weight_grads) if params else dL_dI

    def _spend_tape(self, dL_dh, params=False):
        """The last forward's tape, which one backward uses up, and the gradients at its targets (checked
        first: a wrong argument leaves the tape for the next call)."""
        if self._tape is None:
            raise RuntimeError("backward needs a forward(..., keep=True) first")
        if params and not self._tape.weight_grads:
            raise UsageError(
                "backward(params=True) needs the layers' inputs: run forward(..., weight_grads=True) first"
            )
        grads = _Sums(self._tape.seeds(dL_dh, self.resolve))
        tape, self._tape = self._tape, None
        return tape, grads

    # ---- pixels <-> network input space ------------------------------------------------------
    def _pre(self):
        pre = self.spec["input"]
        mean = np.asarray(pre.get("mean", [0, 0, 0]), np.float64).reshape(1, 3, 1, 1)
        std = np.asarray(pre.get("std", [1, 1, 1]), np.float64).reshape(1, 3, 1, 1)
        return pre.get("order", "RGB"), float(pre.get("scale", 255.0)), mean, std

    def preprocess(self, img, dtype=np.float32):
        """HxWx3 RGB pixels (uint8, or float in 0..255) -> (1, 3, H, W) in the net's input space."""
        order, scale, mean, std = self._pre()
        img = np.asarray(img, dtype=np.float64)
        if img.ndim != 3 or img.shape[2] != 3:
            raise UserError(f"expected an H x W x 3 RGB image, got shape {img.shape}")
        if order == "BGR":
            img = img[:, :, ::-1]
        x = img.transpose(2, 0, 1)[None] * (scale / 255.0)
        return ((x - mean) / std).astype(dtype)

    def deprocess(self, x, as_float=False):
        """(1, 3, H, W) input space -> HxWx3 RGB uint8 (or float 0..255 with as_float=True)."""
        order, scale, mean, std = self._pre()
        img = ((np.asarray(x, np.float64) * std + mean) * (255.0 / scale))[0].transpose(1, 2, 0)
        if order == "BGR":
            img = img[:, :, ::-1]
        img = np.clip(img, 0.0, 255.0)
        return img if as_float else np.round(img).astype(np.uint8)

    def input_range(self, dtype=np.float32):
        """(lo, hi), each (1, 3, 1, 1): where pixel values 0 and 255 land in input space."""
        _, scale, mean, std = self._pre()
        return ((0.0 - mean) / std).astype(dtype), ((scale - mean) / std).astype(dtype)


class _Tape:
    """What a forward keeps for backward: the kernel set it ran on, and each layer with its cache."""

    def __init__(self, kernels, keep, x, weight_grads=False):
        self.kernels, self.keep, self.steps = kernels, keep, []
        self.weight_grads = weight_grads  # keep what parameter gradients need too (else: dL/dI only)
        self.x_shape, self.x_dtype = x.shape, x.dtype
        self.outputs = {}  # target name -> shape of its activation

    def record(self, layer, out):
        """Keep the layer's cache (when keeping) and hand back its output; out = (y, cache)."""
        y, cache = out
        if self.keep:
            trim = None if self.weight_grads else KINDS[layer["kind"]].input_only
            self.steps.append((layer, trim(cache) if trim else cache))
        return y

    def unwind(self):
        """(layer, cache) pairs, last first, each let go of as it is handed out."""
        while self.steps:
            yield self.steps.pop()

    def seeds(self, dL_dh, resolve):
        """{target: its gradient} from backward's argument, each checked against the target's shape."""
        given = dL_dh if isinstance(dL_dh, dict) else {next(iter(self.outputs)): dL_dh}
        grads = {}
        for name, grad in given.items():
            t, grad = resolve(name), np.asarray(grad)
            if t not in self.outputs:
                raise UsageError(
                    f"backward got a gradient for {t!r}, but the last forward ran up to "
                    f"{list(self.outputs)}; pass the same layers to forward(upto=...)"
                )
            if grad.shape != self.outputs[t]:
                raise UsageError(
                    f"backward: the gradient for {t!r} has shape {grad.shape}, {t} has {self.outputs[t]}"
                )
            grads[t] = grad
        return grads


class _Sums(dict):
    """Activation name -> dL/d(activation) during a backward; `add` is where paths meet.

    The first gradient to arrive is kept as it is (it may be a seed, or a view of concat's dL/dy: never
    written into). The second makes the sum grads[src] + dx, a new array of our own, and every later one
    adds into that array in place: one buffer per meeting point instead of a new one per branch (an
    Inception input gets four branch gradients), the same sums in the same order."""

    def __init__(self, seeds):
        super().__init__(seeds)
        self.own = set()  # names whose array is a sum made here, ours to add into

    def add(self, src, dx):
        """grads[src] += dx, or grads[src] = dx when it is the first gradient to reach src."""
        if src not in self:
            self[src] = dx
        elif src in self.own and dx.dtype == self[src].dtype:
            np.add(self[src], dx, out=self[src])
        else:
            self[src] = self[src] + dx
            self.own.add(src)


class _Cast(Mapping):
    """layer -> {key: array in `dtype`}, each layer cast when asked for (Net.params_as)."""

    def __init__(self, params, dtype):
        self.params, self.dtype = params, dtype

    def __getitem__(self, layer):
        return {k: v.astype(self.dtype, copy=False) for k, v in self.params[layer].items()}

    def __iter__(self):
        return iter(self.params)

    def __len__(self):
        return len(self.params)


class _Plan(NamedTuple):
    layers: list  # the layers a forward runs, in order, conv -> relu pairs fused
    read_last_by: dict  # layer name -> the activations it is the last to read (targets are kept)


def _network_input(x):
    """x as a float (N, 3, H, W) array: float32 unless it is float64."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise UserError(f"the network takes (N, 3, H, W) input, got shape {x.shape}")
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


# ---- reading a spec ---------------------------------------------------------------------------------
DEFAULTS = {  # hyper-parameters a spec may leave out
    "conv": {"bias": True, "relu": False},
    "avgpool": {"count_pad": True},
    "lrn": {"alpha": 1e-4, "beta": 0.75, "k": 1.0},
    "linear": {"bias": True},
    "leaky_relu": {"alpha": 0.01},  # ONNX's default (PyTorch's too)
}


def _normalise(layer):
    """A spec layer as the graph runs it: defaults filled in, and for conv and pooling layers the window
    read once into a Geometry ("geo", also written back into hp as complete lists). "params_of" names the
    layer whose parameters it uses (itself, until a fusion renames it)."""
    name, kind = layer["name"], layer["kind"]
    hp = {**DEFAULTS.get(kind, {}), **layer.get("hp", {})}
    geo = None
    if kind in ("conv", "maxpool", "avgpool"):
        geo = geometry.conv_geometry(hp, name) if kind == "conv" else geometry.pool_geometry(hp, name)
        hp.update(geometry.as_hp(geo, kind))
    if kind == "adaptive_avgpool":
        hp["size"] = _pair(hp["size"])
    inputs = list(layer.get("inputs", [INPUT]))
    return {"name": name, "kind": kind, "inputs": inputs, "hp": hp, "geo": geo, "params_of": name}


def _pair(v):
    return [int(v), int(v)] if np.isscalar(v) else [int(a) for a in v]


def _fuse_relus(plan, targets):
    """The plan with each conv -> relu pair rewritten as one conv that applies the ReLU itself, named as
    the relu, when nothing else reads the conv's output and the conv is no target (asked for by name, a
    conv stays pre-ReLU). One pass then writes max(y, 0) and the mask, and backward reads dy through the
    mask: the same h and gradients under every name, less memory and time."""
    readers = Counter(name for layer in plan for name in layer["inputs"])
    by_name = {layer["name"]: layer for layer in plan}
    relu_after = {}  # conv name -> the relu that takes it over
    for layer in plan:
        conv = by_name.get(layer["inputs"][0]) if layer["kind"] == "relu" else None
        if conv and conv["kind"] == "conv" and not conv["hp"]["relu"] and readers[conv["name"]] == 1:
            if conv["name"] not in targets:
                relu_after[conv["name"]] = layer
    fused = []
    for layer in plan:
        relu = relu_after.get(layer["name"])
        if relu is not None:
            fused.append(dict(layer, name=relu["name"], hp=dict(layer["hp"], relu=True)))
        elif not (layer["kind"] == "relu" and layer["inputs"][0] in relu_after):
            fused.append(layer)
    return fused


def _read_last_by(plan, targets):
    """{layer name: the activations no layer after it reads}, the targets excepted (forward returns them)."""
    last = {}
    for layer in plan:
        for name in layer["inputs"]:
            last[name] = layer["name"]
    done = {layer["name"]: [] for layer in plan}
    for name, reader in last.items():
        if name not in targets:
            done[reader].append(name)
    return done
