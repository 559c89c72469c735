"""VGG16 and VGG19 as torchvision builds them (torchvision/models/vgg.py, configurations D and E).

`features` is a plain chain: [3x3 conv pad 1 -> ReLU] per entry of the configuration, a 2x2 max pool
(floor) at each "M". The layer names are torchvision's module paths (`features.21`), so the state-dict
keys `features.21.weight` map one to one; the friendly names of the VGG paper (conv4_3, relu4_3, pool4)
are aliases. Convolution and ReLU stay separate layers so that `features.21` is the pre-ReLU value, as
in torchvision. Dropout (classifier.2, classifier.5) is the identity at inference and is left out.
"""

from functools import partial

from . import adaptive_avgpool, conv, flatten, linear, maxpool, relu, torchvision_arch, tv_input

CONFIGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


def spec(name="vgg16"):
    layers, aliases = [], {}
    prev, block, n = "data", 1, 1
    for idx, width in _indexed(CONFIGS[name]):
        if width == "M":
            layers.append(maxpool(f"features.{idx}", prev, 2, 2))
            aliases[f"pool{block}"] = f"features.{idx}"
            prev, block, n = f"features.{idx}", block + 1, 1
            continue
        layers += [
            conv(f"features.{idx}", prev, width, 3, p=1),
            relu(f"features.{idx + 1}", f"features.{idx}"),
        ]
        aliases[f"conv{block}_{n}"], aliases[f"relu{block}_{n}"] = f"features.{idx}", f"features.{idx + 1}"
        prev, n = f"features.{idx + 1}", n + 1
    layers += [
        adaptive_avgpool("avgpool", prev, 7),
        flatten("flatten", "avgpool"),  # torch.flatten in VGG.forward, not a module
        linear("classifier.0", "flatten", 4096),
        relu("classifier.1", "classifier.0"),
        linear("classifier.3", "classifier.1", 4096),
        relu("classifier.4", "classifier.3"),
        linear("classifier.6", "classifier.4", 1000),
    ]
    aliases.update(
        {
            "fc6": "classifier.0",
            "relu6": "classifier.1",
            "fc7": "classifier.3",
            "relu7": "classifier.4",
            "fc8": "classifier.6",
            "logits": "classifier.6",
        }
    )
    return {
        "name": name,
        "input": tv_input(224),
        "layers": layers,
        "aliases": aliases,
        "labels": None,
        "dream_layers": ["relu4_3", "relu3_3", "relu4_2", "relu5_3", "conv4_3"],
    }


def _indexed(cfg):
    """(torchvision module index, width or "M") for each configuration entry: a conv takes two indices."""
    idx = 0
    for v in cfg:
        yield idx, v
        idx += 1 if v == "M" else 2


VGG16 = torchvision_arch(partial(spec, "vgg16"))
VGG19 = torchvision_arch(partial(spec, "vgg19"))
