"""CNN building blocks, one module per concept, each a forward/backward pair.

Every layer function follows one contract (CS231n's):
    y, cache  = <kind>_forward(x, ...)                  # the output, and what backward will read
    dx        = <kind>_backward(dy, cache)               # dL/dx from dL/dy, the chain rule of slide 34
    dx, grads = <kind>_backward(dy, cache, params=True)  # training only: grads = {"weight": dw, "bias": db}
The cache holds only what backward reads; layers keep no state between calls. Conv and pooling layers take
their window as a `Geometry` (geometry.py), made once when the architecture is read.

The modules here are the references: the math in plain NumPy, to be read. `layers/fast/` holds the same
functions with the same signatures in Numba, much faster, each held equal to its reference by the tests.
Dreams run on the fast kernels; to run one on nothing but NumPy, set SCRATCHDREAM_KERNELS=reference in the
environment, or call `scratchdream.use_kernels("reference")`.

`KINDS` is the one table that tells the network graph (`nets/graph.py`) how to call each kind, given the
kernel set `k` (REFERENCE or fast.FAST: one module per layer family) and the graph's layer record (name,
kind, inputs, hp, geo):
    forward(k, xs, p, layer)         xs: list of input arrays, p: {"weight": .., "bias": ..} or {}
    backward(k, dy, cache, params)   -> (list of dx, one per input; grads dict or {})
    shape(in_shapes, layer)          (C, H, W) of each input -> (C, H, W) of the output
    params(in_shapes, layer)         -> {"weight": shape, ...}, the parameters the layer needs ({} if none)
    input_only(cache)                -> the cache cut to what dL/dx needs (None: all of it is needed)
Shapes legend used in every module: N batch, C in / K out channels, H W, kh kw kernel, s stride,
p pad, d dilation (1 = none, as in PyTorch and Caffe), g groups.
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import add, batchnorm, concat, conv, linear, pool
from .kernel_sets import REFERENCE, Kernels, kernels, use_kernels

__all__ = ["KINDS", "Kernels", "REFERENCE", "kernels", "use_kernels"]


# ---- how the graph calls each kind ------------------------------------------------------------------
def _no_params(in_shapes, layer):
    return {}


@dataclass(frozen=True)
class Kind:
    forward: Callable
    backward: Callable
    shape: Callable
    params: Callable = _no_params  # most kinds have none
    input_only: Callable | None = None  # cache -> the part dL/dx needs, when less than weight gradients


def _same_shape(in_shapes, layer):
    return in_shapes[0]


def _pool_shape(in_shapes, layer):
    return pool.pool_shape(in_shapes[0], layer["geo"])


def _lrn_forward(k, xs, p, layer):
    hp = layer["hp"]
    return k.lrn.lrn_forward(xs[0], hp["size"], hp["alpha"], hp["beta"], hp["k"])


def _plain(backward_of):
    """backward(k, dy, cache, params) of a layer without parameters and one input."""
    return lambda k, dy, cache, params: ([backward_of(k)(dy, cache)], {})


def _with_params(backward_of):
    """backward(k, dy, cache, params) of a layer with parameters: their gradients only when asked."""

    def backward(k, dy, cache, params):
        if not params:
            return [backward_of(k)(dy, cache)], {}
        dx, grads = backward_of(k)(dy, cache, params=True)
        return [dx], grads

    return backward


KINDS = {
    "conv": Kind(
        lambda k, xs, p, layer: k.conv.conv_forward(
            xs[0], p["weight"], p.get("bias"), layer["geo"], relu=layer["hp"]["relu"]
        ),
        _with_params(lambda k: k.conv.conv_backward),
        lambda s, layer: conv.conv_shape(s[0], layer["geo"], layer["hp"]["out"]),
        lambda s, layer: conv.conv_params(s[0], layer["geo"], layer["hp"]["out"], layer["hp"]["bias"]),
        conv.input_only,  # x is kept only for the weight gradient (both kernel sets: the same cache)
    ),
    "relu": Kind(
        lambda k, xs, p, layer: k.relu.relu_forward(xs[0]),
        _plain(lambda k: k.relu.relu_backward),
        _same_shape,
    ),
    "leaky_relu": Kind(
        lambda k, xs, p, layer: k.leaky_relu.leaky_relu_forward(xs[0], layer["hp"]["alpha"]),
        _plain(lambda k: k.leaky_relu.leaky_relu_backward),
        _same_shape,
    ),
    "clip": Kind(
        lambda k, xs, p, layer: k.clip.clip_forward(xs[0], layer["hp"]["min"], layer["hp"]["max"]),
        _plain(lambda k: k.clip.clip_backward),
        _same_shape,
    ),
    "maxpool": Kind(
        lambda k, xs, p, layer: k.pool.maxpool_forward(xs[0], layer["geo"]),
        _plain(lambda k: k.pool.maxpool_backward),
        _pool_shape,
    ),
    "avgpool": Kind(
        lambda k, xs, p, layer: k.pool.avgpool_forward(xs[0], layer["geo"], layer["hp"]["count_pad"]),
        _plain(lambda k: k.pool.avgpool_backward),
        _pool_shape,
    ),
    "adaptive_avgpool": Kind(
        lambda k, xs, p, layer: k.pool.adaptive_avgpool_forward(xs[0], layer["hp"]["size"]),
        _plain(lambda k: k.pool.adaptive_avgpool_backward),
        lambda s, layer: pool.adaptive_shape(s[0], layer["hp"]["size"]),
    ),
    "lrn": Kind(
        _lrn_forward,
        _plain(lambda k: k.lrn.lrn_backward),
        _same_shape,
    ),
    "concat": Kind(
        lambda k, xs, p, layer: k.concat.concat_forward(xs),
        lambda k, dy, cache, params: (k.concat.concat_backward(dy, cache), {}),
        lambda s, layer: concat.concat_shape(s),
    ),
    "add": Kind(  # both kernel sets: the NumPy sum (layers/add.py)
        lambda k, xs, p, layer: add.add_forward(xs),
        lambda k, dy, cache, params: (add.add_backward(dy, cache), {}),
        lambda s, layer: add.add_shape(s),
    ),
    "flatten": Kind(
        lambda k, xs, p, layer: k.linear.flatten_forward(xs[0]),
        _plain(lambda k: k.linear.flatten_backward),
        lambda s, layer: linear.flatten_shape(s[0]),
    ),
    "linear": Kind(
        lambda k, xs, p, layer: k.linear.linear_forward(xs[0], p["weight"], p.get("bias")),
        _with_params(lambda k: k.linear.linear_backward),
        lambda s, layer: linear.linear_shape(s[0], layer["hp"]["out"]),
        lambda s, layer: linear.linear_params(s[0], layer["hp"]["out"], layer["hp"]["bias"]),
    ),
    "softmax": Kind(
        lambda k, xs, p, layer: k.softmax.softmax_forward(xs[0]),
        _plain(lambda k: k.softmax.softmax_backward),
        _same_shape,
    ),
    "batchnorm": Kind(
        lambda k, xs, p, layer: k.batchnorm.batchnorm_forward(xs[0], p["weight"], p["bias"]),
        _with_params(lambda k: k.batchnorm.batchnorm_backward),
        _same_shape,
        lambda s, layer: batchnorm.batchnorm_params(s[0]),
    ),
}
