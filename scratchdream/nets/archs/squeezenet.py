"""SqueezeNet 1.1 as torchvision builds it (torchvision/models/squeezenet.py).

A Fire module squeezes with a 1x1 conv + ReLU, then expands with a 1x1 and a 3x3 (pad 1) conv, each
+ ReLU, concatenated on channels; the module's output is the concat, named like the module
(`features.3`). Max pools are 3/2 with ceil_mode=True. The classifier is a 1x1 conv to 1000 channels,
ReLU and a global average, so the net runs at any image size. fire2..fire9 (the paper's numbering)
are aliases. Dropout (classifier.0) is left out.
"""

from . import adaptive_avgpool, concat, conv, flatten, maxpool, net_spec, relu, torchvision_arch, tv_input

#        index: (in, squeeze, expand1x1, expand3x3)     torchvision squeezenet1_1
FIRES = {
    3: (64, 16, 64, 64),
    4: (128, 16, 64, 64),
    6: (128, 32, 128, 128),
    7: (256, 32, 128, 128),
    9: (256, 48, 192, 192),
    10: (384, 48, 192, 192),
    11: (384, 64, 256, 256),
    12: (512, 64, 256, 256),
}


def fire(idx, inp):
    _, s, e1, e3 = FIRES[idx]
    m = f"features.{idx}."
    return [
        conv(m + "squeeze", inp, s, 1),
        relu(m + "squeeze_activation", m + "squeeze"),
        conv(m + "expand1x1", m + "squeeze_activation", e1, 1),
        relu(m + "expand1x1_activation", m + "expand1x1"),
        conv(m + "expand3x3", m + "squeeze_activation", e3, 3, p=1),
        relu(m + "expand3x3_activation", m + "expand3x3"),
        concat(f"features.{idx}", [m + "expand1x1_activation", m + "expand3x3_activation"]),
    ]


def spec():
    layers = [
        conv("features.0", "data", 64, 3, s=2),
        relu("features.1", "features.0"),
        maxpool("features.2", "features.1", 3, 2, ceil=True),
    ]
    prev = "features.2"
    for idx in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12):
        if idx in (5, 8):
            layers.append(maxpool(f"features.{idx}", prev, 3, 2, ceil=True))
        else:
            layers += fire(idx, prev)
        prev = f"features.{idx}"
    layers += [
        conv("classifier.1", prev, 1000, 1),
        relu("classifier.2", "classifier.1"),
        adaptive_avgpool("classifier.3", "classifier.2", 1),
        flatten("flatten", "classifier.3"),
    ]
    aliases = {f"fire{n}": f"features.{idx}" for n, idx in zip(range(2, 10), FIRES)}
    aliases.update(
        {
            "conv1": "features.0",
            "relu1": "features.1",
            "pool1": "features.2",
            "pool3": "features.5",
            "pool5": "features.8",
            "conv10": "classifier.1",
            "relu10": "classifier.2",
            "logits": "flatten",
        }
    )
    dream_layers = ["fire7", "fire6", "fire8", "fire9"]
    return net_spec("squeezenet1_1", tv_input(224), layers, aliases, dream_layers)


SQUEEZENET1_1 = torchvision_arch(spec)
