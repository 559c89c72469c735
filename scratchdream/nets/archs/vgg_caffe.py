"""VGG16-places365: the Places365 authors' Caffe VGG16 (365 scene classes), with Caffe's own blob names.

Written from their deploy_vgg16_places365.prototxt (CSAILVision/places365): VGG16's thirteen 3x3 pad-1
convolutions, each followed by an in-place ReLU (so the blob `conv4_3` holds the post-ReLU value: one conv
layer with the ReLU fused keeps the blob's name), a 2x2 stride-2 max pool after each block (Caffe's ceil
rule), then fc6 and fc7 (4096, each with an in-place ReLU, here the layers relu6 and relu7 since a linear
layer fuses none) and fc8a (365 outputs) and the softmax `prob`. Dropout is the identity at inference and
is left out. The input is BGR, 0..255, minus a mean pixel (docs/zoo.md says where it comes from).
The weights are read by Caffe layer name (conv1_1 .. fc8a), as bvlc_googlenet's (googlenet.py), and the
file's stored layer settings, or a deploy.prototxt, are checked against this architecture the same way.
"""

from . import Arch, conv, flatten, image_input, linear, maxpool, net_spec, relu, softmax
from .googlenet import check_caffe_layers, check_prototxt, file_keys, params_from

# B, G, R: the per-channel mean of the authors' places365CNN_mean.binaryproto (a 3x256x256 mean image)
MEAN_BGR = [104.051, 112.514, 116.676]
BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]  # (width, convolutions) per block


def spec():
    layers, aliases, prev = [], {}, "data"
    for block, (width, n) in enumerate(BLOCKS, 1):
        for i in range(1, n + 1):
            name = f"conv{block}_{i}"
            layers.append(conv(name, prev, width, 3, p=1, relu=True))
            aliases[f"relu{block}_{i}"] = name  # Caffe's ReLU is in place: the conv blob is post-ReLU
            prev = name
        layers.append(maxpool(f"pool{block}", prev, 2, 2, ceil=True))
        prev = f"pool{block}"
    layers += [
        flatten("pool5/flatten", "pool5"),  # not a Caffe blob: InnerProduct flattens inside
        linear("fc6", "pool5/flatten", 4096),
        relu("relu6", "fc6"),
        linear("fc7", "relu6", 4096),
        relu("relu7", "fc7"),
        linear("fc8a", "relu7", 365),
        softmax("prob", "fc8a"),
    ]
    aliases["logits"] = "fc8a"
    dream_layers = ["conv4_3", "conv3_3", "conv4_2", "conv5_3", "conv5_1"]
    return net_spec("vgg16_places365", image_input("BGR", 255.0, MEAN_BGR), layers, aliases, dream_layers)


VGG16_PLACES365 = Arch(
    spec,
    params_from=params_from,
    file_keys=file_keys,
    check_layers=check_caffe_layers,
    check_prototxt=check_prototxt,
)
