"""The ONNX ops as our layers: one small function per op, each turning one node (nets/readers/onnx.py's
OnnxNode) into a layer of nets/archs/'s constructors, a constant, or a shape; nets/onnx_graph.py walks the
graph and calls them through the OPS table. Each takes the Builder `b` (its tensors: b.consts, b.syms,
b.acts; b.add(node, layer, rank, params) appends a layer) and raises Unsupported, with the reason in
words, for what it cannot read.
    Conv -> conv (group, dilations, pads; auto_pad SAME only at stride 1, where it does not depend on
        the picture's size)          BatchNormalization -> folded into the conv before it, else batchnorm
    Relu, Clip(min 0, no max) -> relu          LeakyRelu -> leaky_relu (alpha, default 0.01)
    Clip(min, max) -> clip (ReLU6 = Clip(0, 6); bounds from attributes before opset 11, inputs after)
    MaxPool, AveragePool -> maxpool, avgpool (ceil_mode, pads)
    GlobalAveragePool -> adaptive_avgpool 1    LRN -> lrn          Concat (channels) -> concat
    Add -> a bias folded into the conv/linear before it, or `add` of two activations (residual nets)
    Gemm, MatMul (+ Add) -> linear             Flatten, Reshape to (batch, -1) -> flatten     Softmax
    Dropout, Identity -> nothing (the output is the input); a first Transpose NHWC -> NCHW: nothing
    Constant, Shape, Gather, Cast, Unsqueeze, Concat of constants or shapes -> folded here
Pads: ONNX writes [top, left, bottom, right], ours [top, bottom, left, right]. Weights: conv OIHW as
ours; Gemm's B is (in, out) unless transB; MatMul's B is (in, out): linear's weight is (out, in).
"""

import numpy as np

from ..layers.batchnorm import bn_fold, fold_into_conv
from . import archs
from .spec import INPUT

IMAGE, FLAT = 3, 1  # an activation's rank: (C, H, W) or a flat vector (the batch axis aside)


class Unsupported(Exception):
    """This node cannot become one of our layers (the reason, in words)."""


class Sym(list):
    """A shape that depends on the picture: ints where known, "N" for the batch, "?" for the rest."""


def made(layer, tensor):
    layer["made"] = tensor  # which tensor it wrote first: a fold into it needs it to be read only once
    return layer


# ---- layers ----------------------------------------------------------------------------------------
def window(node, kernel, pool):
    """(stride, pad [t, b, l, r], dilation) of a Conv or pooling node; auto_pad SAME only at stride 1."""
    a = node.attrs
    if len(kernel) != 2:
        raise Unsupported(f"a {len(kernel)}-D window (only 2-D pictures here)")
    strides, dil = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
    pads, auto = list(a.get("pads", [0, 0, 0, 0])), a.get("auto_pad", "NOTSET")
    if len(strides) != 2 or len(dil) != 2 or len(pads) != 4:
        raise Unsupported("strides, dilations or pads not given for 2 axes")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if strides != [1, 1]:
            raise Unsupported(f"auto_pad {auto} with stride {strides} (its padding depends on the picture)")
        total = [d * (k - 1) for d, k in zip(dil, kernel)]
        small = [t // 2 for t in total]
        begin = small if auto == "SAME_UPPER" else [t - s for t, s in zip(total, small)]
        pads = begin + [t - b for t, b in zip(total, begin)]
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    if pool and dil != [1, 1]:
        raise Unsupported(f"pooling with dilations {dil}")
    return strides, [pads[0], pads[2], pads[1], pads[3]], dil


def op_conv(b, node):
    x = b.act(node.inputs[0], IMAGE)
    w = b.const(node.inputs[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"a weight of {w.ndim} axes (only 2-D convolutions)")
    bias = b.const(node.inputs[2], "bias") if len(node.inputs) > 2 and node.inputs[2] else None
    kernel = list(node.attrs.get("kernel_shape", w.shape[2:]))
    s, p, d = window(node, kernel, pool=False)
    layer = archs.conv(
        "", x, int(w.shape[0]), kernel, s, p, bias=bias is not None, groups=node.attrs.get("group", 1)
    )
    layer["hp"]["dilation"] = d
    params = {"weight": w.astype(np.float32)}
    if bias is not None:
        params["bias"] = bias.reshape(-1).astype(np.float32)
    made(b.add(node, layer, IMAGE, params), node.outputs[0])


def op_relu(b, node):
    made(b.add(node, archs.relu("", b.act(node.inputs[0])), b.acts[node.inputs[0]][1]), node.outputs[0])


def decimal(v):
    """A float attribute (stored as float32) as the shortest decimal that float32 rounds to it: 0.2, not
    0.20000000298 (the exporter was given 0.2; float64 runs then match it to rounding)."""
    return float(str(np.float32(v)))


def op_leaky_relu(b, node):
    layer = archs.leaky_relu("", b.act(node.inputs[0]), decimal(node.attrs.get("alpha", 0.01)))
    made(b.add(node, layer, b.acts[node.inputs[0]][1]), node.outputs[0])


FLOAT_MAX = 3.4e38  # a bound this far out is no bound (opset < 11's defaults are float32's extremes)


def op_clip(b, node):
    """Clip(0, +inf) is a ReLU; Clip(lo, hi) with both finite (ReLU6 is Clip(0, 6)) a clip layer."""
    lo, hi = node.attrs.get("min"), node.attrs.get("max")  # opset < 11: attributes
    if len(node.inputs) > 1 and node.inputs[1]:
        lo = float(b.const(node.inputs[1], "min"))
    if len(node.inputs) > 2 and node.inputs[2]:
        hi = float(b.const(node.inputs[2], "max"))
    unbounded = [v is None or not abs(v) < FLOAT_MAX for v in (lo, hi)]
    if lo == 0 and unbounded[1]:
        return op_relu(b, node)
    if any(unbounded) or not lo < hi:
        raise Unsupported(f"Clip to [{lo}, {hi}] (a clip layer needs finite bounds, min below max)")
    layer = archs.clip("", b.act(node.inputs[0]), decimal(lo), decimal(hi))
    made(b.add(node, layer, b.acts[node.inputs[0]][1]), node.outputs[0])


def op_pool(b, node):
    x = b.act(node.inputs[0], IMAGE)
    if len(node.outputs) > 1 and node.outputs[1] and b.readers[node.outputs[1]]:
        raise Unsupported("its indices output is read")
    kernel = list(node.attrs.get("kernel_shape", []))
    s, p, _ = window(node, kernel, pool=True)
    ceil = bool(node.attrs.get("ceil_mode", 0))
    if node.op == "MaxPool":
        layer = archs.maxpool("", x, kernel, s, p, ceil=ceil)
    else:
        layer = archs.avgpool(
            "", x, kernel, s, p, ceil=ceil, count_pad=bool(node.attrs.get("count_include_pad", 0))
        )
    b.add(node, layer, IMAGE)


def op_global_avgpool(b, node):
    b.add(node, archs.adaptive_avgpool("", b.act(node.inputs[0], IMAGE), 1), IMAGE)


def op_lrn(b, node):
    a = node.attrs
    size = a.get("size", 0)
    if size % 2 == 0:
        raise Unsupported(f"an LRN window of {size} channels (an even window is not centred)")
    layer = archs.lrn(
        "", b.act(node.inputs[0], IMAGE), size, a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    )
    b.add(node, layer, IMAGE)


def op_concat(b, node):
    ins = [t for t in node.inputs if t]
    if all(t in b.consts or t in b.syms for t in ins):
        return fold_concat(b, node, ins)
    ranks = {b.acts.get(t, (None, None))[1] for t in ins}
    rank = ranks.pop() if len(ranks) == 1 else None
    axis = node.attrs.get("axis", 1)
    if rank is None or axis not in (1, -(rank + 1)):
        raise Unsupported(f"a concat along axis {axis} (only channels are joined here)")
    b.add(node, archs.concat("", [b.act(t) for t in ins]), rank)


def op_add(b, node):
    x, y = node.inputs[0], node.inputs[1]
    if x in b.consts and y in b.consts:
        b.consts[node.outputs[0]] = b.consts[x] + b.consts[y]
        return
    if x in b.consts or y in b.consts:
        act, c = (y, b.consts[x]) if x in b.consts else (x, b.consts[y])
        return fold_bias(b, node, act, c)
    rx, ry = b.acts.get(x, (0, None))[1], b.acts.get(y, (0, None))[1]
    if rx != ry:
        raise Unsupported("an Add of an image and a flat vector")
    b.add(node, {"name": "", "kind": "add", "inputs": [b.act(x), b.act(y)], "hp": {}}, rx)


def fold_bias(b, node, act, c):
    """activation + constant: a bias, added to the conv or linear that made the activation."""
    layer = b.sole_reader(act, ("conv", "linear"))
    if layer is None:
        raise Unsupported("it adds a constant to something other than a conv or linear output")
    out = layer["hp"]["out"]
    target = (1, out, 1, 1) if layer["kind"] == "conv" else (1, out)  # ONNX broadcasting, trailing axes
    try:
        c = np.broadcast_to(np.asarray(c, np.float64), target).reshape(out, -1)[:, 0]
    except ValueError:
        raise Unsupported(f"a constant of shape {np.shape(c)}, not one bias per channel") from None
    p = b.params[layer["name"]]
    p["bias"] = (p.get("bias", np.zeros(out, np.float32)).astype(np.float64) + c).astype(np.float32)
    layer["hp"]["bias"] = True
    b.acts[node.outputs[0]] = b.acts[act]
    layer["made"] = node.outputs[0]


def op_batchnorm(b, node):
    if node.attrs.get("training_mode", 0) or any(b.readers[t] for t in node.outputs[1:] if t):
        raise Unsupported("batch normalisation in training mode")
    gamma, beta, mean, var = (b.const(t, w) for t, w in zip(node.inputs[1:5], ("scale", "B", "mean", "var")))
    scale, shift = bn_fold(gamma, beta, mean, var, node.attrs.get("epsilon", 1e-5))
    conv = b.sole_reader(node.inputs[0], ("conv",))
    if conv is not None:  # the usual case: fold into the conv, no layer of its own
        p = b.params[conv["name"]]
        p["weight"], p["bias"] = fold_into_conv(p["weight"], p.get("bias"), scale, shift)
        conv["hp"]["bias"] = True
        b.acts[node.outputs[0]] = b.acts[node.inputs[0]]
        conv["made"] = node.outputs[0]
        return
    x = b.act(node.inputs[0])
    params = {"weight": scale.astype(np.float32), "bias": shift.astype(np.float32)}
    b.add(node, {"name": "", "kind": "batchnorm", "inputs": [x], "hp": {}}, b.acts[node.inputs[0]][1], params)


def op_gemm(b, node):
    a = node.attrs
    if a.get("transA", 0):
        raise Unsupported("Gemm with transA")
    x = b.act(node.inputs[0], FLAT)
    w = np.asarray(b.const(node.inputs[1], "B"), np.float64)
    if w.ndim != 2:
        raise Unsupported(f"a B of {w.ndim} axes")
    w = (w if a.get("transB", 0) else w.T) * a.get("alpha", 1.0)  # (out, in)
    params = {"weight": w.astype(np.float32)}
    has_c = len(node.inputs) > 2 and node.inputs[2]
    if has_c:
        c = np.asarray(b.const(node.inputs[2], "C"), np.float64) * a.get("beta", 1.0)
        try:
            params["bias"] = np.broadcast_to(c, (1, w.shape[0]))[0].astype(np.float32)
        except ValueError:
            raise Unsupported(f"a C of shape {c.shape}, not one bias per output") from None
    layer = archs.linear("", x, int(w.shape[0]), bias=bool(has_c))
    made(b.add(node, layer, FLAT, params), node.outputs[0])


def op_matmul(b, node):
    x = b.act(node.inputs[0], FLAT)
    w = b.const(node.inputs[1], "B")
    if w.ndim != 2:
        raise Unsupported(f"a B of {w.ndim} axes")
    layer = archs.linear("", x, int(w.shape[1]), bias=False)
    made(b.add(node, layer, FLAT, {"weight": np.ascontiguousarray(w.T, np.float32)}), node.outputs[0])


def op_flatten(b, node):
    if node.attrs.get("axis", 1) != 1:
        raise Unsupported(f"Flatten at axis {node.attrs.get('axis')} (only the batch axis is kept)")
    flatten_to(b, node)


def flatten_to(b, node):
    x, rank = b.act(node.inputs[0]), b.acts[node.inputs[0]][1]
    if rank == FLAT:
        b.acts[node.outputs[0]] = b.acts[node.inputs[0]]
    else:
        b.add(node, archs.flatten("", x), FLAT)


def op_reshape(b, node):
    src, shape = node.inputs[0], b.sym(node.inputs[1])
    if shape is None:
        raise Unsupported("its shape is computed in a way scratchdream does not fold")
    shape = list(shape) if isinstance(shape, Sym) else [int(v) for v in np.asarray(shape).reshape(-1)]
    if src in b.consts and not isinstance(shape, Sym):
        old = b.consts[src].shape  # ONNX: 0 copies the old size of that axis
        b.consts[node.outputs[0]] = b.consts[src].reshape(
            [old[i] if d == 0 else d for i, d in enumerate(shape)]
        )
        return
    flat = (
        len(shape) == 2
        and shape[0] in ("N", 0, 1, -1)
        and (shape[1] == -1 or isinstance(shape[1], int) and shape[1] > 0)
    )
    if not flat:
        raise Unsupported(f"a Reshape to {shape} (only to a flat vector per picture)")
    flatten_to(b, node)


def op_pass(b, node):
    """Dropout and Identity: the output is the input (Dropout's mask must be unused)."""
    if any(b.readers[t] for t in node.outputs[1:] if t):
        raise Unsupported("its mask output is read")
    src, out = node.inputs[0], node.outputs[0]
    for table in (b.acts, b.consts, b.syms):
        if src in table:
            table[out] = table[src]


def op_softmax(b, node):
    rank = b.acts.get(node.inputs[0], (0, None))[1]
    axis = node.attrs.get("axis", 1 if b.graph.opset < 13 else -1)
    if rank != FLAT or axis not in (1, -1):
        raise Unsupported(f"a softmax along axis {axis} of an image (only over classes)")
    b.add(node, archs.softmax("", b.act(node.inputs[0])), FLAT)


def op_transpose(b, node):
    """Only the NHWC -> NCHW turn of the picture that tf2onnx and keras2onnx put first."""
    perm = list(node.attrs.get("perm", []))
    if b.acts.get(node.inputs[0]) == (INPUT, None) and perm == [0, 3, 1, 2]:
        b.acts[node.outputs[0]] = (INPUT, IMAGE)
        return
    if node.inputs[0] in b.consts:
        b.consts[node.outputs[0]] = np.transpose(b.consts[node.inputs[0]], perm or None)
        return
    raise Unsupported(f"a Transpose {perm} inside the net (only NHWC -> NCHW of the picture)")


# ---- constants and shapes, folded ------------------------------------------------------------------
def op_constant(b, node):
    a = node.attrs
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):  # fmt: skip
        if key in a:
            b.consts[node.outputs[0]] = np.asarray(a[key], dtype)
            return
    raise Unsupported("a Constant of a kind other than a tensor, float(s) or int(s)")


def op_shape(b, node):
    src = node.inputs[0]
    if src in b.consts:
        shape = np.asarray(b.consts[src].shape, np.int64)
    elif src in b.acts:
        rank = b.acts[src][1] or IMAGE
        shape = Sym(["N"] + ["?"] * rank)
    else:
        raise Unsupported("the shape of a tensor scratchdream does not know")
    start, end = node.attrs.get("start", 0), node.attrs.get("end", len(shape))
    part = shape[start:end]
    if isinstance(part, Sym) or isinstance(shape, Sym):
        b.syms[node.outputs[0]] = Sym(part)
    else:
        b.consts[node.outputs[0]] = part


def op_gather(b, node):
    data, idx = b.sym(node.inputs[0]), b.const(node.inputs[1], "indices")
    if node.attrs.get("axis", 0) != 0 or data is None:
        raise Unsupported("a Gather other than of a shape or a constant")
    if isinstance(data, Sym):
        b.syms[node.outputs[0]] = Sym(data[int(i)] for i in np.asarray(idx).reshape(-1))
    else:
        b.consts[node.outputs[0]] = np.take(data, idx, axis=0)


def op_cast(b, node):
    src = node.inputs[0]
    if src in b.syms:
        b.syms[node.outputs[0]] = b.syms[src]
    elif src in b.consts:
        to = {1: np.float32, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}.get(
            node.attrs.get("to")
        )
        b.consts[node.outputs[0]] = b.consts[src].astype(to) if to else b.consts[src]
    else:
        raise Unsupported("a Cast of an activation")


def op_unsqueeze(b, node):
    src = node.inputs[0]
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1:  # opset 13: axes is an input
        axes = [int(v) for v in b.const(node.inputs[1], "axes").reshape(-1)]
    if src in b.syms:
        b.syms[node.outputs[0]] = b.syms[src]  # a shape's entries stay a flat list
    elif src in b.consts:
        out = b.consts[src]
        for ax in sorted(axes or []):
            out = np.expand_dims(out, ax if ax >= 0 else ax + out.ndim + 1)
        b.consts[node.outputs[0]] = out
    else:
        raise Unsupported("an Unsqueeze of an activation")


def fold_concat(b, node, ins):
    if any(t in b.syms for t in ins):
        out = Sym()
        for t in ins:
            out.extend(b.syms[t] if t in b.syms else [int(v) for v in np.asarray(b.consts[t]).reshape(-1)])
        b.syms[node.outputs[0]] = out
    else:
        b.consts[node.outputs[0]] = np.concatenate([b.consts[t] for t in ins], axis=node.attrs.get("axis", 0))


INPUTS = {"Conv": 2, "Concat": 1, "Add": 2, "BatchNormalization": 5, "Gemm": 2, "MatMul": 2, "Reshape": 2,
          "Gather": 2, "Constant": 0, "Shape": 1}  # fmt: skip  # the fewest an op takes (1 where not listed)
OPS = {
    "Conv": op_conv, "Relu": op_relu, "LeakyRelu": op_leaky_relu, "Clip": op_clip, "MaxPool": op_pool,
    "AveragePool": op_pool, "GlobalAveragePool": op_global_avgpool, "LRN": op_lrn, "Concat": op_concat,
    "Add": op_add,
    "BatchNormalization": op_batchnorm, "Gemm": op_gemm, "MatMul": op_matmul, "Flatten": op_flatten,
    "Reshape": op_reshape, "Dropout": op_pass, "Identity": op_pass, "Softmax": op_softmax,
    "Transpose": op_transpose, "Constant": op_constant, "Shape": op_shape, "Gather": op_gather,
    "Cast": op_cast, "Unsqueeze": op_unsqueeze,
}  # fmt: skip
