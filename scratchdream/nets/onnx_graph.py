"""An ONNX graph (read by nets/readers/onnx.py) -> our architecture (nets/graph.py's spec) and parameters.

    onnx_net(path, name=None) -> (spec, params, notes)      notes: what was dropped, in one line each

The nodes are read in the file's order (ONNX lists every input before its reader). Each ONNX tensor is
one of three things here: a constant (an initializer, a Constant node, or what folding made of them),
a shape computed from an activation's shape (`Sym`: the Shape -> Gather -> Unsqueeze -> Concat chain that
feeds a Reshape), or an activation, the output of one of our layers, with its rank: 3 for (C, H, W),
1 for a flat vector. nets/onnx_ops.py turns each op into a layer (its docstring has the table). A node
that is none of those ops (or one of them with settings we lack, e.g. a Clip with no lower bound) is
dropped with every node that depends on it; one line names the first such node and its op. Layer names
are the nodes' names, with short aliases (`aliases`).
"""

import os
import re
from collections import Counter

from ..errors import UserError
from . import archs
from .onnx_ops import IMAGE, INPUTS, OPS, Unsupported
from .readers.onnx import read_onnx
from .spec import INPUT, MAX_NAME


class Builder:
    def __init__(self, graph):
        self.graph = graph
        self.consts = dict(graph.initializers)  # tensor -> ndarray
        self.acts = {}  # tensor -> (layer name, rank)
        self.layers, self.params, self.by_name = [], {}, {}
        self.readers = Counter(t for node in graph.nodes for t in node.inputs if t)
        self.readers.update(graph.outputs)
        self.dead, self.first_dropped, self.dropped = set(), None, 0
        self.syms = {}  # tensor -> Sym

    # ---- the layers we make ------------------------------------------------------------------------
    def add(self, node, layer, rank, params=None):
        """Append a layer (named for the node) whose output is the node's first output."""
        layer["name"] = self.unique(node_name(node))
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
        if params:
            self.params[layer["name"]] = params
        self.acts[node.outputs[0]] = (layer["name"], rank)
        return layer

    def unique(self, name):
        base, i = name, 1
        while name in self.by_name or name == INPUT:
            i += 1
            name = f"{base}_{i}"[-MAX_NAME:]
        return name

    def act(self, tensor, rank=None):
        """The layer name of an activation tensor (of the given rank, if given)."""
        if tensor not in self.acts:
            what = "a constant" if tensor in self.consts else "a shape" if tensor in self.syms else "unknown"
            raise Unsupported(f"input {tensor!r} is {what}, where an activation is expected")
        name, got = self.acts[tensor]
        if got is None:
            raise Unsupported("it reads the NHWC picture before its Transpose to NCHW")
        if rank is not None and got != rank:
            raise Unsupported(
                "a flat vector where an image is expected" if rank == IMAGE else "an image input"
            )
        return name

    def const(self, tensor, what):
        if tensor not in self.consts:
            raise Unsupported(f"its {what} ({tensor!r}) is computed by the graph, not stored")
        return self.consts[tensor]

    def sym(self, tensor):
        """A constant or a Sym (a shape, or what was computed from one); None for an activation."""
        return self.consts.get(tensor, self.syms.get(tensor))

    def sole_reader(self, tensor, kinds):
        """The layer making `tensor`, if it is one of `kinds` and this node is its only reader (a fold)."""
        name = self.acts.get(tensor, (None,))[0]
        layer = self.by_name.get(name)
        folds = layer is not None and layer["kind"] in kinds and layer.get("made") == tensor
        return layer if folds and self.readers[tensor] == 1 else None

    # ---- the walk --------------------------------------------------------------------------------
    def run(self, input_tensor, nhwc):
        self.acts[input_tensor] = (INPUT, None if nhwc else IMAGE)  # None: waits for its Transpose
        for node in self.graph.nodes:
            if any(t in self.dead for t in node.inputs if t):
                self.dead.update(node.outputs)
                self.dropped += 1
                continue
            try:
                self.one(node)
            except Unsupported as e:
                self.dead.update(node.outputs)
                self.dropped += 1
                self.first_dropped = self.first_dropped or (node, str(e))
        for layer in self.layers:
            layer.pop("made", None)

    def one(self, node):
        """Turn one node into a layer, a constant or a shape; Unsupported when it cannot be."""
        handler = OPS.get(node.op)
        if handler is None:
            raise Unsupported("not an op scratchdream has a layer for")
        if len([t for t in node.inputs if t]) < INPUTS.get(node.op, 1) or not node.outputs:
            raise Unsupported(
                f"{len(node.inputs)} inputs and {len(node.outputs)} outputs, too few for {node.op}"
            )
        try:
            handler(self, node)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError) as e:  # a damaged attribute
            raise Unsupported(f"its inputs or attributes do not fit {node.op} ({type(e).__name__})") from None


def node_name(node):
    """Our layer name for a node: its ONNX name (else its first output's), as an HDF5 path: no empty,
    '.' or '..' parts between slashes, printable, at most MAX_NAME characters."""
    raw = node.name or (node.outputs[0] if node.outputs else "") or node.op
    parts = [p for p in raw.split("/") if p not in ("", ".", "..")]
    name = "/".join(parts)
    name = "".join(c if c.isprintable() else "_" for c in name)[-MAX_NAME:]
    return name or node.op


# ---- the whole file --------------------------------------------------------------------------------
def onnx_net(path, name=None, image=None):
    """(spec, params, notes) of the ONNX model at `path`. name: the net's name (default: the file's);
    image: the input record (archs.image_input; default torchvision's preset, the ONNX zoo's for VGG)."""
    graph = read_onnx(path)
    tensor, nhwc, size = picture_input(graph, path)
    b = Builder(graph)
    b.run(tensor, nhwc)
    if not b.layers:
        why = f": node {show_node(*b.first_dropped)}" if b.first_dropped else ""
        raise UserError(f"{path}: no layer scratchdream can run{why}")
    notes = []
    if b.first_dropped:
        node, why = b.first_dropped
        notes.append(
            f"{os.path.basename(path)}: node {show_node(node, why)}; {b.dropped} node(s) dropped in all (it, "
            f"what depends on it, any other op we lack), the net ends at {b.layers[-1]['name']!r}"
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(path))[0])[:MAX_NAME]
    name = name or stem.strip("._") or "onnx_net"
    spec = archs.net_spec(
        name, dict(image or archs.tv_input(), size=list(size)), b.layers, aliases(b.layers), []
    )
    spec["dream_layers"] = [suggest(b.layers)]
    return spec, b.params, notes


def show_node(node, why):
    return f"{node.name or node.outputs[0]!r} ({node.op}): {why}"


def picture_input(graph, path):
    """(tensor name, NHWC?, (H, W)) of the picture the graph reads: (N, 3, H, W), or (N, H, W, 3) that a
    Transpose turns first; H, W as the file fixes them, else 224."""
    if not graph.inputs:
        raise UserError(f"{path}: the graph has no input; is it a whole model?")
    tensor, dims = graph.inputs[0]
    if len(dims) == 4 and dims[1] == 3:
        nhwc, (h, w) = False, dims[2:]
    elif len(dims) == 4 and dims[3] == 3:
        nhwc, (h, w) = True, dims[1:3]
    else:
        raise UserError(
            f"{path}: the model reads {tensor!r} of shape {dims}; scratchdream dreams with nets that read a "
            "picture, (N, 3, H, W) or (N, H, W, 3)"
        )
    return tensor, nhwc, (h or 224, w or 224)


OP_WORD = re.compile(r"[A-Z][A-Za-z0-9]*(_\d+)?|concat(_\d+)?|transpose(_\d+)?")


def aliases(layers):
    """Short names for long ones. A node's scope is its name without the op at the end, each part that
    extends the one before replacing it (torch writes a module's path as '/inc3a/b2/b2.0/b2.0.0/Conv').
    The alias is the first of these that no layer of another scope shares (in one scope, the last layer
    gets it: the module's or Keras layer's output): the last part without TensorFlow's '_1'
    copy suffix, the last part, then the last 2, 3, ... parts joined by '.' (torch's module path):
    '/features/features.0/Conv' -> 'features.0', 'inc3a/b2/b2.0/b2.0.0/Conv' -> 'inc3a.b2.0.0',
    'functional_1/block4_conv3_1/BiasAdd' -> 'block4_conv3'."""
    scopes = {layer["name"]: scope(layer["name"]) for layer in layers}
    taken, out = set(scopes), {}
    for level in range(max(len(p) for p in scopes.values()) + 1):
        sharing = {}  # candidate -> the layers it could name
        for name, parts in scopes.items():
            cand = candidate(parts, level)
            if cand:
                sharing.setdefault(cand, []).append(name)
        for cand, names in sharing.items():
            if len({tuple(scopes[n]) for n in names}) == 1 and cand not in taken:
                target = names[-1]  # one scope, several layers: its output, the last (Conv, then Relu)
                if target not in out.values() and cand != target:
                    out[cand] = target
                    taken.add(cand)
    return out


def scope(name):
    parts = name.split("/")
    if len(parts) > 1 and OP_WORD.fullmatch(parts[-1]):
        parts = parts[:-1]
    chain = []
    for p in parts:
        if chain and p.startswith(chain[-1] + "."):
            chain[-1] = p
        else:
            chain.append(p)
    return chain


def candidate(parts, level):
    """Level 0: the last part without a '_N' suffix; 1: the last part; n: the last n parts, '.'-joined."""
    if level == 0:
        return re.sub(r"_\d+$", "", parts[-1])
    return ".".join(parts[-level:]) if level <= len(parts) else None


def suggest(layers):
    """A dream layer to start from: two thirds of the way through the image layers (before any flatten)."""
    image = []
    for layer in layers:
        if layer["kind"] in ("flatten", "linear", "adaptive_avgpool"):
            break
        if layer["kind"] in ("relu", "leaky_relu", "clip", "concat", "add", "maxpool"):
            image.append(layer["name"])
    return image[(2 * len(image)) // 3] if image else layers[0]["name"]
