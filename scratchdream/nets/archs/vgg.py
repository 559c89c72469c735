"""VGG16 and VGG19 as torchvision builds them (torchvision/models/vgg.py, configurations D and E).

`features` is a plain chain of blocks: [3x3 conv pad 1 -> ReLU] as many times as the block has
convolutions, then a 2x2 max pool (floor). The layer names are torchvision's module paths
(`features.21`), so the state-dict keys `features.21.weight` map one to one; the friendly names of the
VGG paper (conv4_3, relu4_3, pool4) are aliases. Convolution and ReLU stay separate layers so that
`features.21` is the pre-ReLU value, as in torchvision. Dropout (classifier.2, classifier.5) is the
identity at inference and is left out.
"""

from functools import partial

from . import adaptive_avgpool, conv, flatten, linear, maxpool, net_spec, relu, torchvision_arch, tv_input

#        (width, convolutions) per block: torchvision's configurations D and E, a max pool after each block
BLOCKS = {
    "vgg16": [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)],
    "vgg19": [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)],
}


def spec(name="vgg16"):
    layers, aliases = [], {}
    prev, idx = "data", 0  # idx: the next module's index in torchvision's `features`
    for block, (width, n) in enumerate(BLOCKS[name], 1):
        for i in range(1, n + 1):
            conv_name, relu_name = f"features.{idx}", f"features.{idx + 1}"
            layers += [conv(conv_name, prev, width, 3, p=1), relu(relu_name, conv_name)]
            aliases[f"conv{block}_{i}"], aliases[f"relu{block}_{i}"] = conv_name, relu_name
            prev, idx = relu_name, idx + 2
        pool_name = f"features.{idx}"
        layers.append(maxpool(pool_name, prev, 2, 2))
        aliases[f"pool{block}"] = pool_name
        prev, idx = pool_name, idx + 1
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
    dream_layers = ["relu4_3", "relu3_3", "relu4_2", "relu5_3", "conv4_3"]
    return net_spec(name, tv_input(224), layers, aliases, dream_layers)


VGG16 = torchvision_arch(partial(spec, "vgg16"))
VGG19 = torchvision_arch(partial(spec, "vgg19"))
