"""CNN building blocks, one module per concept, each a forward/backward pair.

Every layer function follows one contract (CS231n's):
    y, cache = <kind>_forward(x, ..., hp)        # hp: the layer's hyper-parameters (a dict)
    dx       = <kind>_backward(dy, cache)         # dL/dx from dL/dy, the chain rule of slide 34
    dx, grads = <kind>_backward(dy, cache, params=True)   # training only: grads = {"weight": dw, "bias": db}
The cache holds only what backward reads; layers keep no state between calls.

`KINDS` below is the one table that tells the network graph (`nets/graph.py`) how to call each kind:
    forward(xs, p, hp)            xs: list of input arrays, p: {"weight": .., "bias": ..} or {}
    backward(dy, cache, params)   -> (list of dx, one per input; grads dict or {})
    shape(in_shapes, hp)          (C, H, W) of each input -> (C, H, W) of the output
    params(in_shapes, hp)         -> {"weight": shape, ...} the parameters this layer needs ({} if none)
Shapes legend used in every module: N batch, C in / K out channels, H W, kh kw kernel, s stride,
p pad, d dilation (1 = none, as in PyTorch and Caffe), g groups.
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import batchnorm, concat, conv, linear, lrn, pool, relu, softmax


@dataclass(frozen=True)
class Kind:
    forward: Callable
    backward: Callable
    shape: Callable
    params: Callable


def _no_params(in_shapes, hp):
    return {}


def _one(fwd):
    """Adapt a single-input, parameter-free forward(x, hp) to the table's forward(xs, p, hp)."""
    return lambda xs, p, hp: fwd(xs[0], hp)


def _plain_backward(bwd):
    return lambda dy, cache, params: ([bwd(dy, cache)], {})


def _param_backward(bwd):
    def backward(dy, cache, params):
        if not params:
            return [bwd(dy, cache)], {}
        dx, grads = bwd(dy, cache, params=True)
        return [dx], grads

    return backward


KINDS = {
    "conv": Kind(
        lambda xs, p, hp: conv.conv_forward(xs[0], p["weight"], p.get("bias"), hp),
        _param_backward(conv.conv_backward),
        conv.conv_shape,
        conv.conv_params,
    ),
    "relu": Kind(
        lambda xs, p, hp: relu.relu_forward(xs[0]),
        _plain_backward(relu.relu_backward),
        lambda s, hp: s[0],
        _no_params,
    ),
    "maxpool": Kind(
        _one(pool.maxpool_forward), _plain_backward(pool.maxpool_backward), pool.pool_shape, _no_params
    ),
    "avgpool": Kind(
        _one(pool.avgpool_forward), _plain_backward(pool.avgpool_backward), pool.pool_shape, _no_params
    ),
    "adaptive_avgpool": Kind(
        _one(pool.adaptive_avgpool_forward),
        _plain_backward(pool.adaptive_avgpool_backward),
        pool.adaptive_shape,
        _no_params,
    ),
    "lrn": Kind(_one(lrn.lrn_forward), _plain_backward(lrn.lrn_backward), lambda s, hp: s[0], _no_params),
    "concat": Kind(
        lambda xs, p, hp: concat.concat_forward(xs),
        lambda dy, cache, params: (concat.concat_backward(dy, cache), {}),
        concat.concat_shape,
        _no_params,
    ),
    "flatten": Kind(
        lambda xs, p, hp: linear.flatten_forward(xs[0]),
        _plain_backward(linear.flatten_backward),
        linear.flatten_shape,
        _no_params,
    ),
    "linear": Kind(
        lambda xs, p, hp: linear.linear_forward(xs[0], p["weight"], p.get("bias"), hp),
        _param_backward(linear.linear_backward),
        linear.linear_shape,
        linear.linear_params,
    ),
    "softmax": Kind(
        lambda xs, p, hp: softmax.softmax_forward(xs[0]),
        _plain_backward(softmax.softmax_backward),
        lambda s, hp: s[0],
        _no_params,
    ),
    "batchnorm": Kind(
        lambda xs, p, hp: batchnorm.batchnorm_forward(xs[0], p["weight"], p["bias"]),
        _param_backward(batchnorm.batchnorm_backward),
        lambda s, hp: s[0],
        batchnorm.batchnorm_params,
    ),
}
