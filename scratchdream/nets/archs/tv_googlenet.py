"""torchvision's GoogLeNet (torchvision/models/googlenet.py): not the Caffe net, and converted differently.

Each `BasicConv2d` is conv (no bias) -> BatchNorm2d(eps=1e-3) -> ReLU. At inference BN is a fixed
per-channel affine map, so conversion folds it into the conv (layers/batchnorm.py: bn_fold,
fold_into_conv) and the three become one conv layer with bias and fused ReLU, named like the module
(`inception4c.branch2.1`): its output equals the module's output in torch. Differences from the Caffe
net: no LRN, the "5x5" branch is a 3x3 (a known torchvision quirk), maxpool4 is 2x2/2; all max pools
use ceil mode. `transform_input` (True for the pretrained weights) maps the ImageNet-normalised input
to (v - 0.5) / 0.5; it is folded into our preprocessing (mean 0.5, std 0.5), so x = (pixel/255 - 0.5)/0.5.
The auxiliary heads aux1/aux2 ("not pretrained") and dropout are left out.
"""

from ...layers.batchnorm import bn_fold, fold_into_conv
from ..graph import INPUT
from . import Arch, adaptive_avgpool, concat, conv, flatten, image_input, linear, maxpool, net_spec, take
from .googlenet import INCEPTION  # the Caffe net's widths; the column headed "5x5" is a 3x3 here

BN_EPS = 1e-3


def basic(name, inp, out, k, s=1, p=0):
    """BasicConv2d after folding: one conv with bias and fused ReLU."""
    return conv(name, inp, out, k, s=s, p=p, relu=True)


def inception(x, inp):
    """Four branches on `inp`, concatenated on channels: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | maxpool -> 1x1."""
    _, c1, c3r, c3, c5r, c5, cp = INCEPTION[x]
    m = f"inception{x}."
    return [
        basic(m + "branch1", inp, c1, 1),
        basic(m + "branch2.0", inp, c3r, 1),
        basic(m + "branch2.1", m + "branch2.0", c3, 3, p=1),
        basic(m + "branch3.0", inp, c5r, 1),
        basic(m + "branch3.1", m + "branch3.0", c5, 3, p=1),
        maxpool(m + "branch4.0", inp, 3, 1, p=1, ceil=True),
        basic(m + "branch4.1", m + "branch4.0", cp, 1),
        concat(f"inception{x}", [m + "branch1", m + "branch2.1", m + "branch3.1", m + "branch4.1"]),
    ]


def spec():
    L = [
        basic("conv1", INPUT, 64, 7, s=2, p=3),
        maxpool("maxpool1", "conv1", 3, 2, ceil=True),
        basic("conv2", "maxpool1", 64, 1),
        basic("conv3", "conv2", 192, 3, p=1),
        maxpool("maxpool2", "conv3", 3, 2, ceil=True),
    ]
    prev = "maxpool2"
    for x in INCEPTION:
        L += inception(x, prev)
        prev = f"inception{x}"
        if x in ("3b", "4e"):
            pool = "maxpool3" if x == "3b" else "maxpool4"
            L.append(maxpool(pool, prev, 3 if x == "3b" else 2, 2, ceil=True))
            prev = pool
    L += [adaptive_avgpool("avgpool", prev, 1), flatten("flatten", "avgpool"), linear("fc", "flatten", 1000)]
    image = image_input("RGB", 1.0, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])  # transform_input folded in
    dream_layers = ["inception4c", "inception3b", "inception4d", "inception4e"]
    return net_spec("tv_googlenet", image, L, {"logits": "fc"}, dream_layers)


def file_keys(net_shapes):
    keys = {"fc.weight", "fc.bias"}
    for layer, shapes in net_shapes.items():
        if shapes and layer != "fc":
            keys |= {f"{layer}.conv.weight"} | {
                f"{layer}.bn.{k}" for k in ("weight", "bias", "running_mean", "running_var")
            }
    return keys


def params_from(tensors, net_shapes):
    """Fold each BasicConv2d's BN into its conv; copy fc as is. Keys: `<module>.conv.weight`,
    `<module>.bn.{weight,bias,running_mean,running_var}`, `fc.weight`, `fc.bias`."""
    params = {}
    for layer, shapes in net_shapes.items():
        if not shapes:
            continue
        if layer == "fc":
            params[layer] = {w: take(tensors, f"fc.{w}", s, layer) for w, s in shapes.items()}
            continue
        w = take(tensors, f"{layer}.conv.weight", shapes["weight"], layer)
        K = (shapes["weight"][0],)
        bn = [
            take(tensors, f"{layer}.bn.{k}", K, layer)
            for k in ("weight", "bias", "running_mean", "running_var")
        ]
        wf, bf = fold_into_conv(w, None, *bn_fold(*bn, BN_EPS))
        params[layer] = {"weight": wf, "bias": bf}
    return params


TV_GOOGLENET = Arch(spec, params_from=params_from, file_keys=file_keys)
