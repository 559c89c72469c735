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

import numpy as np

from ..errors import UsageError, UserError
from ..layers import KINDS
from . import memory
from .spec import INPUT, validate

FUSE_RELU = True  # run conv -> relu pairs as one conv with its ReLU fused (see _fusable_relus)
_PASS = "fused"  # the tape's cache of a relu whose conv applied it


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
        self._by_name = {layer["name"]: layer for layer in self.layers}
        self.param_shapes = self._infer_param_shapes()
        self.params = {}
        if params is not None:
            self.set_params(params)
        self._tape = None  # what the last forward kept for backward

    # ---- structure -------------------------------------------------------------------------
    def _infer_param_shapes(self):
        shapes = self.shapes(*self.spec["input"].get("size", [224, 224]), full=True)
        return {
            layer["name"]: KINDS[layer["kind"]].params([shapes[s] for s in layer["inputs"]], layer["hp"])
            for layer in self.layers
        }

    def shapes(self, H, W, full=False):
        """(C, H, W) of every layer's output for an H x W input (no computation, just the size formulas)."""
        out = {INPUT: (3, int(H), int(W))}
        for layer in self.layers:
            ins = [out[s] for s in layer["inputs"]]
            if full or all(min(s) > 0 for s in ins):
                out[layer["name"]] = tuple(int(v) for v in KINDS[layer["kind"]].shape(ins, layer["hp"]))
            else:
                out[layer["name"]] = (0, 0, 0)
        return out

    def resolve(self, name):
        """The layer's own name for `name` (which may be an alias); a clear error with close matches otherwise."""
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

        They are stored as float32 (what dreaming uses); gradient checks of the parameters ask for float64."""
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
        """The parameters in `dtype`: the stored arrays themselves when they already are (no copy, so an
        optimiser's in-place updates are seen), else a fresh cast (float64 gradient checks of a float32 net)."""
        dtype = np.dtype(dtype)
        return {n: {k: v.astype(dtype, copy=False) for k, v in p.items()} for n, p in self.params.items()}

    def memory_estimate(self, H, W, upto=None, dtype=np.float32, batch=1):
        """Bytes a forward to `upto` and its backward hold at their peak, for `batch` H x W pictures.

        The sum and what it counts are in nets/memory.py; forward refuses a pass that does not fit."""
        return memory.estimate(self, H, W, upto, dtype, batch)

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
    def forward(self, x, upto=None, keep=True):
        """Run from the pixels x (N, 3, H, W) up to layer `upto` (a name, or a list of names).

        Returns the activation (or a dict name -> activation for a list). With keep=True the caches
        that `backward` needs are kept; activations nobody needs any more are dropped on the way.
        """
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(f"the network takes (N, 3, H, W) input, got shape {x.shape}")
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        many = isinstance(upto, (list, tuple))
        targets = [
            self.resolve(t) for t in (upto if many else [upto if upto is not None else self.layer_names[-1]])
        ]
        memory.check(self, x.shape, targets, x.dtype)  # refuse before allocating what cannot fit
        plan = self._ancestors(targets)
        params = self.params_as(x.dtype)
        readers = _count_readers(plan)
        fused = _fusable_relus(plan, readers, targets) if FUSE_RELU else {}
        passed = set(fused.values())
        acts, tape = {INPUT: x}, []
        for layer in plan:
            name, kind = layer["name"], KINDS[layer["kind"]]
            if name in passed:  # a relu its conv already applied: same array, same mask
                y, cache = acts[layer["inputs"][0]], _PASS
            else:
                hp = dict(layer["hp"], relu=True) if name in fused else layer["hp"]
                y, cache = kind.forward([acts[s] for s in layer["inputs"]], params.get(name, {}), hp)
            acts[name] = y
            if keep:
                tape.append((layer, cache))
            cache = None  # without keep, nothing may hold the cache (and its inputs) a step longer
            for s in layer["inputs"]:
                readers[s] -= 1
                if readers[s] == 0 and s not in targets:
                    del acts[s]  # nobody reads it any more: free it now
        self._tape = (tape, targets, x.shape, x.dtype) if keep else None
        return {t: acts[t] for t in targets} if many else acts[targets[0]]

    # ---- backward: dL/dh in, dL/dI out (slide 34's chain rule, one layer at a time) -----------
    def backward(self, da, params=False):
        """Chain dL/d(activation) back to dL/d(pixels), in reverse layer order.

        `da` is the gradient at the layer of the last forward (or a dict name -> gradient when
        forward was given a list). Gradients reaching a layer from several readers are summed, in
        one place (`grads[src] += ...`). With params=True also returns {layer: {"weight": dw, ..}}.
        """
        if self._tape is None:
            raise RuntimeError("backward needs a forward(..., keep=True) first")
        tape, targets, x_shape, x_dtype = self._tape
        if not isinstance(da, dict):
            da = {targets[0]: da}
        grads = {self.resolve(t): np.asarray(g) for t, g in da.items()}
        for t in grads:
            if t not in targets:
                raise UsageError(
                    f"backward got a gradient for {t!r}, but the last forward ran up to {targets}; "
                    "pass the same layers to forward(upto=...)"
                )
        pgrads = {}
        self._tape = None  # from here on the tape is spent
        while tape:
            layer, cache = tape.pop()  # popped, so each cache (its saved input, mask) is freed once used
            dy = grads.pop(layer["name"], None)
            if dy is None:
                continue  # nothing flows back through this layer
            if cache is _PASS:
                dxs, dp = [dy], {}  # the fused relu: its conv's backward applies the mask
            else:
                dxs, dp = KINDS[layer["kind"]].backward(dy, cache, params)
            cache = dy = None
            if dp:
                pgrads[layer["name"]] = dp
            for src, dx in zip(layer["inputs"], dxs):
                grads[src] = grads[src] + dx if src in grads else dx
            dxs = dx = None
        dx = grads.get(INPUT)
        if dx is None:
            dx = np.zeros(x_shape, dtype=x_dtype)
        return (dx, pgrads) if params else dx

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


def _normalise(layer):
    """Fill the defaults of a spec layer, so kernels see complete hyper-parameters."""
    layer = {
        "name": layer["name"],
        "kind": layer["kind"],
        "inputs": list(layer.get("inputs", [INPUT])),
        "hp": dict(layer.get("hp", {})),
    }
    hp = layer["hp"]
    if layer["kind"] in ("conv", "maxpool", "avgpool"):
        hp["kernel"] = _pair(hp["kernel"])
        hp["stride"] = _pair(hp.get("stride", 1 if layer["kind"] == "conv" else hp["kernel"]))
        pad = hp.get("pad", 0)
        pad = [pad] * 4 if np.isscalar(pad) else list(pad)
        hp["pad"] = [pad[0], pad[0], pad[1], pad[1]] if len(pad) == 2 else pad  # (top, bottom, left, right)
    if layer["kind"] == "conv":
        hp["dilation"] = _pair(hp.get("dilation", 1))
        hp.setdefault("groups", 1)
        hp.setdefault("bias", True)
        hp.setdefault("relu", False)
    if layer["kind"] in ("maxpool", "avgpool"):
        hp.setdefault("ceil", False)
    if layer["kind"] == "avgpool":
        hp.setdefault("count_pad", True)
    if layer["kind"] == "linear":
        hp.setdefault("bias", True)
    return layer


def _pair(v):
    return [int(v), int(v)] if np.isscalar(v) else [int(a) for a in v]


def _fusable_relus(plan, readers, targets):
    """{conv name: relu name} for each relu whose input is a conv without its own relu, read by nothing else.

    Such a conv runs with its ReLU fused (one pass writes max(y, 0) and the mask; its backward reads dy through
    the mask), and the relu layer passes its input through. Nothing a user sees changes: the relu's name gives
    the same h and gradient, and a conv asked for by name (a target) is never fused, so it stays pre-ReLU.
    """
    by_name = {layer["name"]: layer for layer in plan}
    fused = {}
    for layer in plan:
        if layer["kind"] != "relu":
            continue
        src = by_name.get(layer["inputs"][0])
        if (
            src is not None
            and src["kind"] == "conv"
            and not src["hp"].get("relu")
            and readers[src["name"]] == 1
            and src["name"] not in targets
        ):
            fused[src["name"]] = layer["name"]
    return fused


def _count_readers(plan):
    readers = {INPUT: 0}
    for layer in plan:
        readers.setdefault(layer["name"], 0)
        for s in layer["inputs"]:
            readers[s] = readers.get(s, 0) + 1
    return readers
