"""ResNet-18 and ResNet-50 as torchvision builds them (torchvision/models/resnet.py), BatchNorm folded.

    stem     conv1 7x7/2 pad 3 (no bias) -> bn1 -> relu -> maxpool 3x3/2 pad 1
    layer1..layer4, each a chain of residual blocks; the first block of layer2..4 halves H and W
    basic block (ResNet-18, 2 per stage):   conv1 3x3/s -> bn1 -> relu -> conv2 3x3 -> bn2
    bottleneck (ResNet-50, 3-4-6-3):        conv1 1x1 -> bn1 -> relu -> conv2 3x3/s -> bn2 -> relu
                                            -> conv3 1x1 (4x wider) -> bn3       (stride on the 3x3)
    block output = relu(branch + shortcut): the shortcut is the block's input itself, or, where the
    shape changes, downsample = conv 1x1/s -> BatchNorm
    head     adaptive average pool to 1x1 -> flatten -> fc (1000 classes; Places365: 365)
At inference BatchNorm is a fixed per-channel affine map, so conversion folds each one into the conv
before it (layers/batchnorm.py: bn_fold, fold_into_conv): `layer3.1.conv2` here is torchvision's
conv2 followed by bn2. The sum is an `add` layer (layers/add.py) named `layer3.1.add`; the block's
output, after its ReLU, carries the block's own name (`layer3.1`), and `layer1`..`layer4` are aliases of
each stage's last block. Torchvision uses one ReLU module per block; ours are named relu1, relu2.
"""

from functools import partial

from ...layers.batchnorm import bn_fold, fold_into_conv
from ..graph import INPUT
from . import Arch, adaptive_avgpool, conv, flatten, linear, maxpool, net_spec, relu, take, tv_input

BN_EPS = 1e-5  # torchvision's BatchNorm2d default
STAGES = {"resnet18": ("basic", [2, 2, 2, 2]), "resnet50": ("bottleneck", [3, 4, 6, 3])}
WIDTHS = [64, 128, 256, 512]  # the 3x3 convolutions' width per stage; a bottleneck block outputs 4x


def block(name, inp, cin, width, stride, kind):
    """One residual block -> (its layers, its output channels)."""
    expansion = 4 if kind == "bottleneck" else 1
    cout = width * expansion
    if kind == "basic":
        branch = [
            conv(f"{name}.conv1", inp, width, 3, s=stride, p=1, bias=True),
            relu(f"{name}.relu1", f"{name}.conv1"),
            conv(f"{name}.conv2", f"{name}.relu1", width, 3, p=1, bias=True),
        ]
    else:
        branch = [
            conv(f"{name}.conv1", inp, width, 1, bias=True),
            relu(f"{name}.relu1", f"{name}.conv1"),
            conv(f"{name}.conv2", f"{name}.relu1", width, 3, s=stride, p=1, bias=True),
            relu(f"{name}.relu2", f"{name}.conv2"),
            conv(f"{name}.conv3", f"{name}.relu2", cout, 1, bias=True),
        ]
    last, shortcut = branch[-1]["name"], inp  # the branch's output; the identity shortcut
    if stride != 1 or cin != cout:  # the shape changes: the shortcut is a strided 1x1 conv (+ BN, folded)
        shortcut = f"{name}.downsample"
        branch.append(conv(shortcut, inp, cout, 1, s=stride, bias=True))
    tail = [
        {"name": f"{name}.add", "kind": "add", "inputs": [last, shortcut], "hp": {}},  # F(x) + x
        relu(name, f"{name}.add"),
    ]
    return branch + tail, cout


def spec(name="resnet50", classes=1000, net_name=None):
    kind, counts = STAGES[name]
    layers = [
        conv("conv1", INPUT, 64, 7, s=2, p=3, bias=True),
        relu("relu", "conv1"),
        maxpool("maxpool", "relu", 3, 2, p=1),
    ]
    prev, cin, aliases = "maxpool", 64, {}
    for stage, (width, n) in enumerate(zip(WIDTHS, counts), 1):
        for i in range(n):
            stride = 2 if stage > 1 and i == 0 else 1
            more, cin = block(f"layer{stage}.{i}", prev, cin, width, stride, kind)
            layers += more
            prev = f"layer{stage}.{i}"
        aliases[f"layer{stage}"] = prev
    layers += [
        adaptive_avgpool("avgpool", prev, 1),
        flatten("flatten", "avgpool"),
        linear("fc", "flatten", classes),
    ]
    aliases["logits"] = "fc"
    dream_layers = ["layer3", "layer2", "layer4", "layer3.0"]
    return net_spec(net_name or name, tv_input(224), layers, aliases, dream_layers)


def bn_of(layer):
    """The torchvision key prefixes of a folded layer: (conv weight key, BatchNorm prefix)."""
    if layer == "conv1":
        return "conv1.weight", "bn1"
    if layer.endswith(".downsample"):
        return f"{layer}.0.weight", f"{layer}.1"
    block, conv_name = layer.rsplit(".", 1)  # layer3.1.conv2 -> layer3.1.bn2
    return f"{layer}.weight", f"{block}.bn{conv_name[4:]}"


BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def file_keys(net_shapes):
    keys = set()
    for layer, shapes in net_shapes.items():
        if layer == "fc":
            keys |= {"fc.weight", "fc.bias"}
        elif shapes:
            w, bn = bn_of(layer)
            keys |= {w} | {f"{bn}.{k}" for k in BN_KEYS}
    return keys


def params_from(tensors, net_shapes):
    """Fold each BatchNorm into the conv before it (the conv has no bias of its own); copy fc as is."""
    params = {}
    for layer, shapes in net_shapes.items():
        if not shapes:
            continue
        if layer == "fc":
            params[layer] = {w: take(tensors, f"fc.{w}", s, layer) for w, s in shapes.items()}
            continue
        wkey, bn = bn_of(layer)
        w = take(tensors, wkey, shapes["weight"], layer)
        K = (shapes["weight"][0],)
        stats = [take(tensors, f"{bn}.{k}", K, layer) for k in BN_KEYS]
        wf, bf = fold_into_conv(w, None, *bn_fold(*stats, BN_EPS))
        params[layer] = {"weight": wf, "bias": bf}
    return params


def resnet_arch(name, classes=1000, net_name=None):
    return Arch(partial(spec, name, classes, net_name), params_from=params_from, file_keys=file_keys)


RESNET18 = resnet_arch("resnet18")
RESNET50 = resnet_arch("resnet50")
RESNET18_PLACES365 = resnet_arch("resnet18", 365, "resnet18_places365")
RESNET50_PLACES365 = resnet_arch("resnet50", 365, "resnet50_places365")
