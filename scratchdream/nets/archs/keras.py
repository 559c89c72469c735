"""Keras Applications VGG16 and InceptionV3 (keras/src/applications/{vgg16,inception_v3}.py), from .h5 files.

Layouts change on the way in: Keras keeps images channels-last, so a Conv2D kernel is HWIO
(kh, kw, cin, cout) and becomes our OIHW by transpose(3, 2, 0, 1); a Dense kernel is (in, out) and
becomes (out, in). VGG16's Flatten runs over (H, W, C) in Keras and over (C, H, W) here, so fc1's input
rows are permuted from HWC to CHW order. Keras' activation='relu' belongs to the layer, so Keras' conv
names are post-ReLU values (fused ReLU here); Dense layers keep their Keras name on the post-activation
value and the linear part is named `<name>_linear` (`predictions` is the softmax, `logits` its input).

InceptionV3's conv2d_bn = Conv2D(no bias) -> BatchNormalization(scale=False, eps 1e-3) -> ReLU becomes one
conv with fused ReLU after folding BN (no gamma: gamma = 1). Its layers are named by Keras' automatic
counter (`conv2d_1`, `batch_normalization_1`, ... in Keras 2.0; `conv2d`, `conv2d_1`, ... in later
versions), so the file's conv and BN layers are matched by creation order (their number), not by
literal name; here the fused layer k is `conv2d_k` (k = 1..94), holding Keras' `activation_k` value.
'same' padding is symmetric for every layer of both nets (odd kernels, stride 1); the stride-2 layers
are 'valid'. Average pools are 3x3/1 'same' and, as in TensorFlow, divide by the real pixels only.

The `_notop` files (include_top=False, what Keras' deep-dream example downloads) hold the same layers
without the classifier: VGG16 up to block5_pool, InceptionV3 up to mixed10. Their nets end there.
"""

import re
from functools import partial

import numpy as np

from ...errors import UserError
from ...layers.batchnorm import bn_fold, fold_into_conv
from . import (
    Arch,
    adaptive_avgpool,
    avgpool,
    concat,
    conv,
    flatten,
    image_input,
    linear,
    maxpool,
    net_spec,
    relu,
    softmax,
    take,
    vgg,
)

BN_EPS = 1e-3


# ---- VGG16 -------------------------------------------------------------------------------------------
def vgg16_spec(top=True):
    """top=False: the `_notop` file's net (include_top=False), the convolutions up to block5_pool."""
    layers, prev = [], "data"
    for b, (width, n) in enumerate(vgg.BLOCKS["vgg16"], 1):  # the same blocks as torchvision's
        for i in range(1, n + 1):
            layers.append(conv(f"block{b}_conv{i}", prev, width, 3, p=1, relu=True))
            prev = f"block{b}_conv{i}"
        layers.append(maxpool(f"block{b}_pool", prev, 2, 2))
        prev = f"block{b}_pool"
    layers += top * [
        flatten("flatten", prev),
        linear("fc1_linear", "flatten", 4096),
        relu("fc1", "fc1_linear"),
        linear("fc2_linear", "fc1", 4096),
        relu("fc2", "fc2_linear"),
        linear("logits", "fc2", 1000),
        softmax("predictions", "logits"),
    ]
    image = image_input("BGR", 255.0, [103.939, 116.779, 123.68])  # Keras preprocess_input mode "caffe"
    aliases = {"conv4_3": "block4_conv3", "conv5_3": "block5_conv3"}
    dream_layers = ["block4_conv3", "block3_conv3", "block5_conv3"]
    return net_spec("keras_vgg16" if top else "keras_vgg16_notop", image, layers, aliases, dream_layers)


def _keras_dense(name):
    return {"fc1_linear": "fc1", "fc2_linear": "fc2", "logits": "predictions"}[name]


def vgg16_file_keys(net_shapes):
    keys = set()
    for layer, shapes in net_shapes.items():
        if not shapes:
            continue
        src = _keras_dense(layer) if layer in ("fc1_linear", "fc2_linear", "logits") else layer
        keys |= {f"{src}:0", f"{src}:1"}
    return keys


def vgg16_params_from(tensors, net_shapes):
    params = {}
    for layer, shapes in net_shapes.items():
        if not shapes:
            continue
        K, C = shapes["weight"][0], int(np.prod(shapes["weight"][1:]))  # out, in (flattened)
        if len(shapes["weight"]) == 4:  # HWIO -> OIHW
            kh, kw = shapes["weight"][2:]
            w = take(tensors, f"{layer}:0", (kh, kw, shapes["weight"][1], K), layer).transpose(3, 2, 0, 1)
            b = take(tensors, f"{layer}:1", (K,), layer)
        else:
            src = _keras_dense(layer)
            w = take(tensors, f"{src}:0", (C, K), layer)
            if layer == "fc1_linear":  # rows in (h, w, c) order -> (c, h, w)
                w = w.reshape(7, 7, 512, K).transpose(2, 0, 1, 3).reshape(C, K)
            w, b = w.T, take(tensors, f"{src}:1", (K,), layer)
        params[layer] = {"weight": np.ascontiguousarray(w), "bias": b}
    return params


# ---- InceptionV3 -------------------------------------------------------------------------------------
class _Builder:
    """Replays keras' inception_v3.py: conv2d_bn calls in creation order, Keras' automatic layer numbers."""

    def __init__(self):
        self.layers, self.count = [], {}

    def name(self, stem):
        self.count[stem] = self.count.get(stem, 0) + 1
        return f"{stem}_{self.count[stem]}"

    def conv_bn(self, inp, filters, rows, cols, strides=1, padding="same"):
        pad = (0, 0) if padding == "valid" else ((rows - 1) // 2, (cols - 1) // 2)  # odd kernels, stride 1
        name = self.name("conv2d")
        self.layers.append(conv(name, inp, filters, (rows, cols), s=strides, p=pad, relu=True))
        return name

    def maxpool(self, inp):
        name = self.name("max_pooling2d")
        self.layers.append(maxpool(name, inp, 3, 2))
        return name

    def avgpool_same(self, inp):
        name = self.name("average_pooling2d")
        self.layers.append(avgpool(name, inp, 3, 1, p=1, count_pad=False))
        return name

    def concat(self, inputs, name=None):
        name = name or self.name("concatenate")
        self.layers.append(concat(name, inputs))
        return name


def inception_v3_spec(top=True):
    """top=False: the `_notop` file's net (include_top=False), up to mixed10."""
    B = _Builder()
    x = B.conv_bn("data", 32, 3, 3, strides=2, padding="valid")
    x = B.conv_bn(x, 32, 3, 3, padding="valid")
    x = B.conv_bn(x, 64, 3, 3)
    x = B.maxpool(x)
    x = B.conv_bn(x, 80, 1, 1, padding="valid")
    x = B.conv_bn(x, 192, 3, 3, padding="valid")
    x = B.maxpool(x)
    for i, pool_width in enumerate((32, 64, 64)):  # mixed0..2: 35 x 35
        b1 = B.conv_bn(x, 64, 1, 1)
        b5 = B.conv_bn(B.conv_bn(x, 48, 1, 1), 64, 5, 5)
        b3 = B.conv_bn(B.conv_bn(B.conv_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
        bp = B.conv_bn(B.avgpool_same(x), pool_width, 1, 1)
        x = B.concat([b1, b5, b3, bp], f"mixed{i}")
    b3 = B.conv_bn(x, 384, 3, 3, strides=2, padding="valid")  # mixed3: 17 x 17
    bd = B.conv_bn(B.conv_bn(B.conv_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=2, padding="valid")
    x = B.concat([b3, bd, B.maxpool(x)], "mixed3")
    for i, c in enumerate((128, 160, 160, 192)):  # mixed4..7: 17 x 17, 1x7 / 7x1 kernels
        b1 = B.conv_bn(x, 192, 1, 1)
        b7 = B.conv_bn(B.conv_bn(B.conv_bn(x, c, 1, 1), c, 1, 7), 192, 7, 1)
        bd = B.conv_bn(x, c, 1, 1)
        for rows, cols, width in ((7, 1, c), (1, 7, c), (7, 1, c), (1, 7, 192)):
            bd = B.conv_bn(bd, width, rows, cols)
        bp = B.conv_bn(B.avgpool_same(x), 192, 1, 1)
        x = B.concat([b1, b7, bd, bp], f"mixed{4 + i}")
    b3 = B.conv_bn(B.conv_bn(x, 192, 1, 1), 320, 3, 3, strides=2, padding="valid")  # mixed8: 8 x 8
    b7 = B.conv_bn(B.conv_bn(B.conv_bn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    b7 = B.conv_bn(b7, 192, 3, 3, strides=2, padding="valid")
    x = B.concat([b3, b7, B.maxpool(x)], "mixed8")
    for i in range(2):  # mixed9, mixed10: 8 x 8
        b1 = B.conv_bn(x, 320, 1, 1)
        b3 = B.conv_bn(x, 384, 1, 1)
        b3 = B.concat([B.conv_bn(b3, 384, 1, 3), B.conv_bn(b3, 384, 3, 1)], f"mixed9_{i}")
        bd = B.conv_bn(B.conv_bn(x, 448, 1, 1), 384, 3, 3)
        bd = B.concat([B.conv_bn(bd, 384, 1, 3), B.conv_bn(bd, 384, 3, 1)])
        bp = B.conv_bn(B.avgpool_same(x), 192, 1, 1)
        x = B.concat([b1, b3, bd, bp], f"mixed{9 + i}")
    B.layers += top * [
        adaptive_avgpool("avg_pool", x, 1),
        flatten("avg_pool_flat", "avg_pool"),
        linear("logits", "avg_pool_flat", 1000),
        softmax("predictions", "logits"),
    ]
    # Keras preprocess_input mode "tf": x = pixel / 127.5 - 1
    image = image_input("RGB", 1.0, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], size=299)
    dream_layers = ["mixed4", "mixed3", "mixed5", "mixed6", "mixed7"]
    name = "keras_inception_v3" if top else "keras_inception_v3_notop"
    return net_spec(name, image, B.layers, {}, dream_layers)


CONV_STEMS, BN_STEMS = ("conv2d", "convolution2d"), ("batch_normalization", "batchnormalization")


def _numbered(tensors, stems):
    """The file's layers named <stem> or <stem>_<n>, in creation order (their number; bare <stem> first)."""
    found = {}
    for key in tensors:
        layer = key.rsplit(":", 1)[0]
        m = re.fullmatch(r"(.+?)(?:_(\d+))?", layer)
        if m and m.group(1) in stems:
            found[layer] = int(m.group(2) or 0)
    return sorted(found, key=found.get)


def inception_v3_fits(tensors, net_shapes):
    """The file has InceptionV3's conv and BN layers, and a classifier exactly when the net has one."""
    n = sum(1 for s in net_shapes.values() if len(s.get("weight", ())) == 4)
    return len(_numbered(tensors, CONV_STEMS)) == n == len(_numbered(tensors, BN_STEMS)) and (
        "predictions:0" in tensors
    ) == ("logits" in net_shapes)


def inception_v3_params_from(tensors, net_shapes):
    convs, bns = _numbered(tensors, CONV_STEMS), _numbered(tensors, BN_STEMS)
    ours = [layer for layer, s in net_shapes.items() if len(s.get("weight", ())) == 4]
    if not (len(convs) == len(bns) == len(ours)):
        raise UserError(
            f"the file has {len(convs)} conv and {len(bns)} batch-norm layers, InceptionV3 has "
            f"{len(ours)} of each; the file is for another architecture"
        )
    params = {}
    for layer, src, bn in zip(ours, convs, bns):
        K, C, kh, kw = net_shapes[layer]["weight"]
        w = take(tensors, f"{src}:0", (kh, kw, C, K), layer).transpose(3, 2, 0, 1)
        stats = [take(tensors, f"{bn}:{i}", (K,), layer) for i in range(3 + (f"{bn}:3" in tensors))]
        gamma = stats.pop(0) if len(stats) == 4 else np.ones(K, np.float32)  # scale=False: no gamma
        params[layer] = dict(
            zip(("weight", "bias"), fold_into_conv(w, None, *bn_fold(gamma, *stats, BN_EPS)))
        )
    if "logits" not in net_shapes:  # a notop file's net ends at mixed10
        return params
    K, C = net_shapes["logits"]["weight"]
    params["logits"] = {
        "weight": np.ascontiguousarray(take(tensors, "predictions:0", (C, K), "logits").T),
        "bias": take(tensors, "predictions:1", (K,), "logits"),
    }
    return params


def vgg16_notop_fits(tensors, net_shapes):
    """Every convolution of VGG16 and no fully connected layer: a with-top file is the other entry's."""
    return vgg16_file_keys(net_shapes) <= set(tensors) and "fc1:0" not in tensors


VGG16 = Arch(vgg16_spec, params_from=vgg16_params_from, file_keys=vgg16_file_keys)
INCEPTION_V3 = Arch(inception_v3_spec, params_from=inception_v3_params_from, fits=inception_v3_fits)
# include_top=False: the files of the Keras deep-dream example; no classifier, every conv layer dreams
VGG16_NOTOP = Arch(partial(vgg16_spec, False), params_from=vgg16_params_from, fits=vgg16_notop_fits)
INCEPTION_V3_NOTOP = Arch(
    partial(inception_v3_spec, False), params_from=inception_v3_params_from, fits=inception_v3_fits
)
