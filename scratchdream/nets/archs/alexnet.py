"""AlexNet as torchvision builds it (torchvision/models/alexnet.py, the "one weird trick" variant).

features: conv 11x11/4 pad 2 (64) · ReLU · maxpool 3/2 · conv 5x5 pad 2 (192) · ReLU · maxpool 3/2 ·
conv 3x3 (384) · ReLU · conv 3x3 (256) · ReLU · conv 3x3 (256) · ReLU · maxpool 3/2 (floor pools),
then adaptive average pooling to 6x6 and three fully connected layers. Names are torchvision's module
paths; conv1..conv5, relu1..relu5, pool1/2/5, fc6..fc8 are aliases. Dropouts are left out. The Places365
authors trained the same module with 365 outputs (their `features` wrapped in DataParallel: the file's
keys read `features.module.0.weight`, convert strips the `module.`).
"""

from functools import partial

from . import adaptive_avgpool, conv, flatten, linear, maxpool, net_spec, relu, torchvision_arch, tv_input


def spec(classes=1000, name="alexnet"):
    f = "features."
    layers = [
        conv(f + "0", "data", 64, 11, s=4, p=2),
        relu(f + "1", f + "0"),
        maxpool(f + "2", f + "1", 3, 2),
        conv(f + "3", f + "2", 192, 5, p=2),
        relu(f + "4", f + "3"),
        maxpool(f + "5", f + "4", 3, 2),
        conv(f + "6", f + "5", 384, 3, p=1),
        relu(f + "7", f + "6"),
        conv(f + "8", f + "7", 256, 3, p=1),
        relu(f + "9", f + "8"),
        conv(f + "10", f + "9", 256, 3, p=1),
        relu(f + "11", f + "10"),
        maxpool(f + "12", f + "11", 3, 2),
        adaptive_avgpool("avgpool", f + "12", 6),
        flatten("flatten", "avgpool"),
        linear("classifier.1", "flatten", 4096),
        relu("classifier.2", "classifier.1"),
        linear("classifier.4", "classifier.2", 4096),
        relu("classifier.5", "classifier.4"),
        linear("classifier.6", "classifier.5", classes),
    ]
    aliases = {
        "conv1": f + "0",
        "relu1": f + "1",
        "pool1": f + "2",
        "conv2": f + "3",
        "relu2": f + "4",
        "pool2": f + "5",
        "conv3": f + "6",
        "relu3": f + "7",
        "conv4": f + "8",
        "relu4": f + "9",
        "conv5": f + "10",
        "relu5": f + "11",
        "pool5": f + "12",
        "fc6": "classifier.1",
        "relu6": "classifier.2",
        "fc7": "classifier.4",
        "relu7": "classifier.5",
        "fc8": "classifier.6",
        "logits": "classifier.6",
    }
    dream_layers = ["relu4", "relu5", "relu3"]
    return net_spec(name, tv_input(224), layers, aliases, dream_layers)


ALEXNET = torchvision_arch(spec)
ALEXNET_PLACES365 = torchvision_arch(
    partial(spec, 365, "alexnet_places365")
)  # the Places365 authors' 365 scenes
