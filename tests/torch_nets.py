"""The zoo's architectures written again in plain torch.nn (no torchvision here): the tests' oracle.

Each builder returns a module (eval mode, float32, seeded He-normal random weights) whose `forward(x)`
returns an OrderedDict {layer name: activation} for every layer, named as the publisher names it
(torchvision module paths, Caffe blob names), so the tests can hold scratchdream's every layer against
torch's. `state_dict()` has the publisher's keys. The Caffe GoogLeNet has no torch module hierarchy of
its own (its names hold '/'): it is a dict of weights and a functional forward.

Written from the publishers' definitions (torchvision/models/{vgg,alexnet,squeezenet,googlenet}.py and
Caffe's bvlc_googlenet deploy.prototxt, as summarised in docs/zoo.md), not from scratchdream's specs.
"""

from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TV_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
TV_STD = np.array([0.229, 0.224, 0.225], np.float32)


def randomise(module, seed):
    """He-normal weights (activations keep their scale through deep ReLU stacks), small random biases,
    and for BatchNorm random gamma, beta and running statistics, so that folding is really exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=g)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                C = m.num_features
                m.weight.copy_(0.5 + torch.rand(C, generator=g))
                m.bias.copy_(torch.randn(C, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(C, generator=g) * 0.2)
                m.running_var.copy_(0.5 + torch.rand(C, generator=g))
    return module.eval()


def big_linear(fin, fout):
    """nn.Linear without torch's default initialisation (seconds for VGG's 103M weights): randomise sets
    them."""
    return torch.nn.utils.skip_init(nn.Linear, fin, fout)


def run_sequential(seq, prefix, x, acts):
    for i, m in enumerate(seq):
        x = m(x, acts, f"{prefix}.{i}") if isinstance(m, (Fire, BasicConv2d)) else m(x)
        acts[f"{prefix}.{i}"] = x
    return x


# ---- VGG16 / VGG19 (torchvision vgg.py, configurations D and E) --------------------------------------
VGG_CFG = {
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


class VGG(nn.Module):
    def __init__(self, name):
        super().__init__()
        layers, cin = [], 3
        for v in VGG_CFG[name]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            big_linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(),
            big_linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 1000),
        )

    def forward(self, x):
        """All activations, by torchvision's module paths."""
        acts = OrderedDict()
        x = run_sequential(self.features, "features", x, acts)
        acts["avgpool"] = x = self.avgpool(x)
        acts["flatten"] = x = torch.flatten(x, 1)
        run_sequential(self.classifier, "classifier", x, acts)
        return acts


# ---- AlexNet (torchvision alexnet.py) ---------------------------------------------------------------
class AlexNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(),
            big_linear(256 * 36, 4096),
            nn.ReLU(),
            nn.Dropout(),
            big_linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, 1000),
        )

    forward = VGG.forward


# ---- SqueezeNet 1.1 (torchvision squeezenet.py) -----------------------------------------------------
class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(cin, squeeze, 1), nn.ReLU()
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, e1, 1), nn.ReLU()
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU()

    def forward(self, x, acts, name):
        def rec(key, v):
            acts[f"{name}.{key}"] = v
            return v

        s = rec("squeeze_activation", self.squeeze_activation(rec("squeeze", self.squeeze(x))))
        a = rec("expand1x1_activation", self.expand1x1_activation(rec("expand1x1", self.expand1x1(s))))
        b = rec("expand3x3_activation", self.expand3x3_activation(rec("expand3x3", self.expand3x3(s))))
        return torch.cat([a, b], 1)


class SqueezeNet11(nn.Module):
    def __init__(self):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, stride=2),
            nn.ReLU(),
            pool(),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            pool(),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            pool(),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Conv2d(512, 1000, 1), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1))
        )

    def forward(self, x):
        acts = OrderedDict()
        x = run_sequential(self.features, "features", x, acts)
        x = run_sequential(self.classifier, "classifier", x, acts)
        acts["flatten"] = torch.flatten(x, 1)
        return acts


# ---- torchvision GoogLeNet (googlenet.py: BasicConv2d = conv no bias + BN eps 1e-3 + ReLU) ----------
class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x, acts=None, name=None):
        return F.relu(self.bn(self.conv(x)))


class TVInception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, padding=1))
        # torchvision's "5x5" branch is a 3x3
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), BasicConv2d(cin, cp, 1))

    def forward(self, x, acts, name):
        acts[f"{name}.branch1"] = b1 = self.branch1(x)
        outs = [b1] + [
            run_sequential(getattr(self, f"branch{i}"), f"{name}.branch{i}", x, acts) for i in (2, 3, 4)
        ]
        return torch.cat(outs, 1)


class TVInceptionAux(nn.Module):
    """In the published file (keys aux1.*, aux2.*) though not pretrained; the converter must skip them."""

    def __init__(self, cin):
        super().__init__()
        self.conv = BasicConv2d(cin, 128, 1)
        self.fc1, self.fc2 = nn.Linear(2048, 1024), nn.Linear(1024, 1000)


GOOGLENET_TABLE = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class TVGoogLeNet(nn.Module):
    """With transform_input=True, as torchvision sets it for the pretrained weights."""

    ORDER = [
        "conv1",
        "maxpool1",
        "conv2",
        "conv3",
        "maxpool2",
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
        "avgpool",
    ]

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        for x, row in GOOGLENET_TABLE.items():
            setattr(self, f"inception{x}", TVInception(*row))
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.aux1, self.aux2 = TVInceptionAux(512), TVInceptionAux(528)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, 1000)

    @staticmethod
    def transform_input(x):
        mean, std = torch.tensor(TV_MEAN).view(1, 3, 1, 1), torch.tensor(TV_STD).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward(self, x):
        acts = OrderedDict()
        x = self.transform_input(x)
        for name in self.ORDER:
            m = getattr(self, name)
            x = m(x, acts, name) if isinstance(m, TVInception) else m(x)
            acts[name] = x
        acts["flatten"] = x = torch.flatten(x, 1)
        acts["fc"] = self.fc(self.dropout(x))
        return acts


# ---- Caffe bvlc_googlenet (deploy.prototxt), functional: Caffe names hold '/' -----------------------
def caffe_googlenet_weights(seed, classifier=True):
    """{Caffe layer name: (weight, bias)} float32, He-normal; the layer order of deploy.prototxt."""
    rng = np.random.default_rng(seed)
    shapes = OrderedDict(
        [
            ("conv1/7x7_s2", (64, 3, 7, 7)),
            ("conv2/3x3_reduce", (64, 64, 1, 1)),
            ("conv2/3x3", (192, 64, 3, 3)),
        ]
    )
    for x, (cin, c1, c3r, c3, c5r, c5, cp) in GOOGLENET_TABLE.items():
        m = f"inception_{x}/"
        shapes.update(
            {
                m + "1x1": (c1, cin, 1, 1),
                m + "3x3_reduce": (c3r, cin, 1, 1),
                m + "3x3": (c3, c3r, 3, 3),
                m + "5x5_reduce": (c5r, cin, 1, 1),
                m + "5x5": (c5, c5r, 5, 5),
                m + "pool_proj": (cp, cin, 1, 1),
            }
        )
    if classifier:
        shapes["loss3/classifier"] = (1000, 1024)
    return OrderedDict(
        (
            n,
            (
                (rng.standard_normal(s) * np.sqrt(2.0 / np.prod(s[1:]))).astype(np.float32),
                (rng.standard_normal(s[0]) * 0.1).astype(np.float32),
            ),
        )
        for n, s in shapes.items()
    )


def caffe_googlenet_forward(weights, x):
    """Every top blob of deploy.prototxt (ReLUs in place: conv blobs are post-ReLU)."""
    W = {n: (torch.from_numpy(w), torch.from_numpy(b)) for n, (w, b) in weights.items()}
    acts = OrderedDict()

    def conv(name, inp, stride=1, pad=0):
        acts[name] = F.relu(
            F.conv2d(acts[inp] if isinstance(inp, str) else inp, *W[name], stride=stride, padding=pad)
        )
        return acts[name]

    def pool(name, inp, k, s, p=0):
        acts[name] = F.max_pool2d(acts[inp], k, s, p, ceil_mode=True)

    conv("conv1/7x7_s2", x, 2, 3)
    pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2)
    acts["pool1/norm1"] = F.local_response_norm(acts["pool1/3x3_s2"], 5, alpha=1e-4, beta=0.75, k=1.0)
    conv("conv2/3x3_reduce", "pool1/norm1")
    conv("conv2/3x3", "conv2/3x3_reduce", pad=1)
    acts["conv2/norm2"] = F.local_response_norm(acts["conv2/3x3"], 5, alpha=1e-4, beta=0.75, k=1.0)
    pool("pool2/3x3_s2", "conv2/norm2", 3, 2)
    prev = "pool2/3x3_s2"
    for x_ in GOOGLENET_TABLE:
        m = f"inception_{x_}/"
        conv(m + "1x1", prev)
        conv(m + "3x3", conv(m + "3x3_reduce", prev), pad=1)
        conv(m + "5x5", conv(m + "5x5_reduce", prev), pad=2)
        pool(m + "pool", prev, 3, 1, 1)
        conv(m + "pool_proj", m + "pool")
        acts[m + "output"] = torch.cat([acts[m + b] for b in ("1x1", "3x3", "5x5", "pool_proj")], 1)
        prev = m + "output"
        if x_ in ("3b", "4e"):
            nxt = "pool3/3x3_s2" if x_ == "3b" else "pool4/3x3_s2"
            pool(nxt, prev, 3, 2)
            prev = nxt
    if "loss3/classifier" in W and acts[prev].shape[-1] >= 7 and acts[prev].shape[-2] >= 7:
        acts["pool5/7x7_s1"] = F.avg_pool2d(acts[prev], 7, 1, ceil_mode=True)
        acts["pool5/flatten"] = torch.flatten(acts["pool5/7x7_s1"], 1)
        acts["loss3/classifier"] = F.linear(acts["pool5/flatten"], *W["loss3/classifier"])
        acts["prob"] = F.softmax(acts["loss3/classifier"], dim=1)
    return acts


def caffe_googlenet_layers(weights, with_training_layers=True, conv_overrides=None):
    """The layers of a .caffemodel for tests/fixtures_formats.write_caffemodel, as Caffe snapshots the
    *train* net: a data layer, every layer with its stored parameters (kernel, stride, pad; pooling and
    LRN settings), separate in-place ReLU layers, dropout, an auxiliary head and the losses.
    conv_overrides: {layer: {param: value}} to write a wrong parameter on purpose."""
    conv_geo = {"conv1/7x7_s2": (2, 3), "conv2/3x3": (1, 1)}  # (stride, pad) where not (1, 0)
    for x in GOOGLENET_TABLE:
        conv_geo.update({f"inception_{x}/3x3": (1, 1), f"inception_{x}/5x5": (1, 2)})
    layers = [{"name": "data", "type": "Data", "top": ["data", "label"]}] if with_training_layers else []

    def pool(name, bottom, k, s, p=0, kind=0):
        layers.append(
            {
                "name": name,
                "type": "Pooling",
                "bottom": [bottom],
                "top": [name],
                "params": {"pooling_param": {"pool": kind, "kernel_size": k, "stride": s, "pad": p}},
            }
        )

    def lrn(name, bottom):
        layers.append(
            {
                "name": name,
                "type": "LRN",
                "bottom": [bottom],
                "top": [name],
                "params": {"lrn_param": {"local_size": 5, "alpha": 1e-4, "beta": 0.75}},
            }
        )

    def conv(name, bottom):
        w, b = weights[name]
        stride, pad = conv_geo.get(name, (1, 0))
        p = {"num_output": w.shape[0], "pad": pad, "kernel_size": w.shape[2], "stride": stride}
        p.update((conv_overrides or {}).get(name, {}))
        layers.append(
            {
                "name": name,
                "type": "Convolution",
                "bottom": [bottom],
                "top": [name],
                "blobs": [w, b],
                "params": {"convolution_param": p},
            }
        )
        layers.append(
            {"name": name.replace("/", "/relu_", 1), "type": "ReLU", "bottom": [name], "top": [name]}
        )

    conv("conv1/7x7_s2", "data")
    pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2)
    lrn("pool1/norm1", "pool1/3x3_s2")
    conv("conv2/3x3_reduce", "pool1/norm1")
    conv("conv2/3x3", "conv2/3x3_reduce")
    lrn("conv2/norm2", "conv2/3x3")
    pool("pool2/3x3_s2", "conv2/norm2", 3, 2)
    prev = "pool2/3x3_s2"
    for x in GOOGLENET_TABLE:
        m = f"inception_{x}/"
        conv(m + "1x1", prev)
        conv(m + "3x3_reduce", prev)
        conv(m + "3x3", m + "3x3_reduce")
        conv(m + "5x5_reduce", prev)
        conv(m + "5x5", m + "5x5_reduce")
        pool(m + "pool", prev, 3, 1, 1)
        conv(m + "pool_proj", m + "pool")
        layers.append(
            {
                "name": m + "output",
                "type": "Concat",
                "top": [m + "output"],
                "bottom": [m + b for b in ("1x1", "3x3", "5x5", "pool_proj")],
            }
        )
        prev = m + "output"
        if with_training_layers and x == "4a":  # the first auxiliary head
            rng = np.random.default_rng(1)
            layers += [
                {
                    "name": "loss1/conv",
                    "type": "Convolution",
                    "bottom": ["loss1/ave_pool"],
                    "top": ["loss1/conv"],
                    "blobs": [
                        rng.standard_normal((128, 512, 1, 1)).astype(np.float32),
                        np.zeros(128, np.float32),
                    ],
                    "params": {"convolution_param": {"num_output": 128, "kernel_size": 1}},
                },
                {
                    "name": "loss1/fc",
                    "type": "InnerProduct",
                    "bottom": ["loss1/conv"],
                    "top": ["loss1/fc"],
                    "blobs": [
                        rng.standard_normal((1024, 2048)).astype(np.float32),
                        np.zeros(1024, np.float32),
                    ],
                    "params": {"inner_product_param": {"num_output": 1024}},
                },
                {
                    "name": "loss1/loss",
                    "type": "SoftmaxWithLoss",
                    "bottom": ["loss1/classifier", "label"],
                    "top": ["loss1/loss1"],
                },
            ]
        if x in ("3b", "4e"):
            nxt = "pool3/3x3_s2" if x == "3b" else "pool4/3x3_s2"
            pool(nxt, prev, 3, 2)
            prev = nxt
    if "loss3/classifier" in weights:
        pool("pool5/7x7_s1", prev, 7, 1, kind=1)
        layers.append(
            {
                "name": "pool5/drop_7x7_s1",
                "type": "Dropout",
                "bottom": ["pool5/7x7_s1"],
                "top": ["pool5/7x7_s1"],
                "params": {"dropout_param": {"dropout_ratio": 0.4}},
            }
        )
        layers.append(
            {
                "name": "loss3/classifier",
                "type": "InnerProduct",
                "bottom": ["pool5/7x7_s1"],
                "top": ["loss3/classifier"],
                "blobs": list(weights["loss3/classifier"]),
                "params": {"inner_product_param": {"num_output": 1000}},
            }
        )
    if with_training_layers:
        layers.append(
            {
                "name": "loss3/loss3",
                "type": "SoftmaxWithLoss",
                "bottom": ["loss3/classifier", "label"],
                "top": ["loss3/loss3"],
            }
        )
    return layers


# ---- helpers for the oracle comparisons -------------------------------------------------------------
def smooth_image(H, W, seed):
    """A photo-like uint8 RGB image: smooth colour fields plus a little noise (no flat regions, so
    max-pool ties are as unlikely as in a real photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    img = np.zeros((H, W, 3))
    for c in range(3):
        a = rng.uniform(2, 9, size=4)
        img[..., c] = 128 + 60 * np.sin(a[0] * xx + a[1] * yy + a[2]) + 40 * np.cos(a[3] * xx * yy * 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def tv_normalise(img):
    """torchvision's preset on an HxWx3 uint8 image -> (1, 3, H, W) float32."""
    x = (img.astype(np.float32) / 255.0 - TV_MEAN) / TV_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def torch_channel_grad(forward, x, layer, channel):
    """dL/dx for L = mean over one channel of layer's activation squared (the dream's channel objective)."""
    xt = torch.from_numpy(np.array(x)).requires_grad_(True)
    a = forward(xt)[layer]
    (a[:, channel] ** 2).mean().backward()
    return xt.grad.numpy()


def channel_da(a, channel):
    """dL/da of L = mean(a[:, channel]^2): 2 a / count on that channel, 0 elsewhere."""
    da = np.zeros_like(a)
    da[:, channel] = 2.0 * a[:, channel] / a[:, channel].size
    return da


def check_every_layer(net, x, torch_acts, tol=1e-4):
    """Hold every layer of `net` against torch's activation of the same name; returns {layer: rel error}."""
    from gradcheck import assert_close

    ours = net.forward(x, upto=net.layer_names, keep=False)
    errors = {}
    for name in net.layer_names:
        assert name in torch_acts, f"the torch oracle has no layer {name!r}"
        errors[name] = assert_close(name, ours[name], torch_acts[name].detach().numpy(), tol)
    return errors


def our_channel_grad(net, x, layer, channel):
    a = net.forward(x, upto=layer)
    return net.backward(channel_da(a, channel))


def check_gradient(net, x, forward64, forward32, layer, channel, to_pixels=1.0, x_torch=None, tol64=1e-10):
    """The input gradient of a channel objective at `layer`, ours against torch; returns (err64, err32).

    float64: ours vs torch must agree to rounding (< 1e-10): this is the check of the backward chain.
    (Nets with BatchNorm folded at conversion store the folded weights in float32, torch keeps conv and
    BN apart, so there both sides differ by the float32 rounding of the folded weights: tol64 1e-5.)
    float32: with random weights many ReLU inputs sit within float32 rounding of the kink and many
    max-pool windows hold only such near-zero values, so two correct float32 implementations may route a
    window's gradient differently (measured: torch float32 differs from torch float64 by up to 6e-3 on
    GoogLeNet at inception_4c). So our float32 gradient must be within 1e-4 of torch's float32 gradient,
    or no further from the float64 truth than torch's own float32 gradient is (with a factor 2 of slack).
    `x_torch` is torch's input when its input space differs from ours, `to_pixels` then rescales our
    gradient into torch's space (tv_googlenet: transform_input folded into our preprocessing).
    `forward64` is called after `forward32` has been used for the last time (it may convert the model).
    Our side runs on the part of the net that leads to `layer` (`head`), so float64 never casts a
    classifier it does not use."""
    from gradcheck import assert_close, rel_error

    net = head(net, layer)
    xt = x if x_torch is None else x_torch
    ours32 = our_channel_grad(net, x.astype(np.float32), layer, channel) * to_pixels
    torch32 = torch_channel_grad(forward32, xt.astype(np.float32), layer, channel)
    truth = torch_channel_grad(forward64, xt.astype(np.float64), layer, channel)
    err64 = assert_close(
        "dL/dx float64", our_channel_grad(net, x.astype(np.float64), layer, channel) * to_pixels, truth, tol64
    )
    err32 = rel_error(ours32, torch32)
    if err32 >= 1e-4:
        mine, theirs = rel_error(ours32, truth), rel_error(torch32, truth)
        assert mine <= max(1e-4, 2 * theirs), (
            f"float32 dL/dx: {mine:.2e} from the float64 truth, torch's float32 is {theirs:.2e} from it"
        )
    return err64, err32


def head(net, layer):
    """A Net of the layers `layer` depends on (spec and parameters of the same net, nothing recomputed)."""
    from scratchdream.nets.graph import Net

    by_name = {ly["name"]: ly for ly in net.spec["layers"]}
    need, stack = set(), [net.resolve(layer)]
    while stack:
        n = stack.pop()
        if n in by_name and n not in need:
            need.add(n)
            stack.extend(by_name[n].get("inputs", []))
    spec = dict(net.spec, layers=[ly for ly in net.spec["layers"] if ly["name"] in need])
    spec["aliases"] = {a: t for a, t in (net.spec.get("aliases") or {}).items() if t in need}
    spec["dream_layers"] = [
        d for d in net.spec.get("dream_layers") or [] if d in need or d in spec["aliases"]
    ]
    spec["labels"] = None  # the classes of a classifier the cut may have removed
    return Net(spec, {n: p for n, p in net.params.items() if n in need})


def torchvision_roundtrip(model, path, legacy, H, W, layer, channel, name, seed=1, folded=False):
    """Save `model`'s state dict as the publisher did (legacy: False = zip, True = torch's legacy stream,
    "oldstyle" = the same stream with pre-1.0 tensor pickles), convert it (recognised from the file), save
    and load our HDF5, then compare every layer and the input gradient; returns (net, layer errors, err64,
    err32). folded: BatchNorm is folded at conversion (ResNet): the float64 gradient is held to 1e-5, as
    check_gradient explains."""
    import scratchdream as sd
    from scratchdream.nets.convert import convert_file

    if legacy == "oldstyle":  # the pre-1.0 pickling of the published VGG files (FloatTensor + __setstate__)
        from fixtures_formats import legacy_oldstyle_pth

        legacy_oldstyle_pth(path, {k: v.numpy() for k, v in model.state_dict().items()})
    else:
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    net = convert_file(path)
    assert net.name == name, f"recognised as {net.name}, expected {name}"
    h5 = str(path) + ".h5"
    sd.save_net(net, h5)
    net = sd.load_net(h5)
    img = smooth_image(H, W, seed)
    x_torch = tv_normalise(img)
    x = net.preprocess(img)
    with torch.no_grad():
        acts = model(torch.from_numpy(x_torch))
    errors = check_every_layer(net, x, acts)
    layer = net.resolve(layer)  # an alias such as relu4_3 -> features.22

    def model64(t):  # float64 torch, made when first needed
        return model.double()(t)

    to_pixels, tol64 = 1.0, 1e-5 if folded else 1e-10
    if np.allclose(net.spec["input"]["std"], TV_STD):
        np.testing.assert_allclose(x, x_torch, rtol=0, atol=1e-5)  # our preprocess is torchvision's preset
        x_torch = None  # so both get the very same numbers
    else:  # tv_googlenet: x = (pixel/255 - 0.5)/0.5
        to_pixels = (TV_STD / np.float32(net.spec["input"]["std"])).reshape(1, 3, 1, 1)
        tol64 = 1e-5  # BN folded: see check_gradient
    err64, err32 = check_gradient(net, x, model64, model, layer, channel, to_pixels, x_torch, tol64)
    return net, errors, err64, err32


# ---- Keras Applications VGG16 and InceptionV3: functional torch over Keras-layout weights -----------
# Weights are {Keras layer: [(weight name, array)]} as in the .h5 (HWIO kernels, Dense (in, out)); the
# forward keeps Keras' semantics (channels-last Flatten before fc1, BN scale=False eps 1e-3, 'same'
# average pools that divide by the real pixels only) and records the value of each layer under the name
# scratchdream gives it (Keras' own names; the Dense pre-activations as <name>_linear / logits).
def _he(rng, shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def keras_vgg16_weights(seed):
    rng = np.random.default_rng(seed)
    w, cin = OrderedDict(), 3
    for b, (width, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for i in range(1, n + 1):
            name = f"block{b}_conv{i}"
            w[name] = [
                (f"{name}_W_1:0", _he(rng, (3, 3, cin, width), 9 * cin)),
                (f"{name}_b_1:0", (rng.standard_normal(width) * 0.1).astype(np.float32)),
            ]
            cin = width
        w[f"block{b}_pool"] = []
    w["flatten"] = []
    for name, fin, fout in (("fc1", 25088, 4096), ("fc2", 4096, 4096), ("predictions", 4096, 1000)):
        w[name] = [
            (f"{name}_W_1:0", _he(rng, (fin, fout), fin)),
            (f"{name}_b_1:0", (rng.standard_normal(fout) * 0.1).astype(np.float32)),
        ]
    return w


def _t(a, like):
    return torch.from_numpy(a).to(like.dtype)


def keras_vgg16_forward(weights, x):
    acts = OrderedDict()
    for b, n in enumerate([2, 2, 3, 3, 3], 1):
        for i in range(1, n + 1):
            (_, k), (_, bias) = weights[f"block{b}_conv{i}"]
            x = acts[f"block{b}_conv{i}"] = F.relu(
                F.conv2d(x, _t(k, x).permute(3, 2, 0, 1), _t(bias, x), padding=1)
            )
        x = acts[f"block{b}_pool"] = F.max_pool2d(x, 2, 2)
    acts["flatten"] = torch.flatten(x, 1)  # scratchdream's flatten is channel-major
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras flattens (H, W, C)
    for name, ours in (("fc1", "fc1_linear"), ("fc2", "fc2_linear"), ("predictions", "logits")):
        (_, k), (_, bias) = weights[name]
        x = acts[ours] = x @ _t(k, x) + _t(bias, x)
        x = acts[name] = F.softmax(x, dim=1) if name == "predictions" else F.relu(x)
    return acts


class KerasInceptionV3:
    """keras' inception_v3.py replayed in torch; the first call creates the weights in creation order,
    named as Keras >= 2.3 does (conv2d, conv2d_1, ...; batch_normalization, ...)."""

    def __init__(self, seed):
        self.rng, self.weights, self.building = np.random.default_rng(seed), OrderedDict(), True

    def _next(self, stem):
        self.count[stem] = self.count.get(stem, -1) + 1
        n = self.count[stem]
        return f"{stem}_{n}" if n else stem, f"{stem}_{n + 1}"  # (Keras' name, scratchdream's name)

    def conv_bn(self, x, filters, rows, cols, strides=1, padding="same"):
        (conv, ours), (bn, _) = self._next("conv2d"), self._next("batch_normalization")
        if self.building:
            cin, rng = x.shape[1], self.rng
            self.weights[conv] = [
                (f"{conv}/kernel:0", _he(rng, (rows, cols, cin, filters), rows * cols * cin))
            ]
            self.weights[bn] = [
                (f"{bn}/beta:0", (rng.standard_normal(filters) * 0.1).astype(np.float32)),
                (f"{bn}/moving_mean:0", (rng.standard_normal(filters) * 0.2).astype(np.float32)),
                (f"{bn}/moving_variance:0", (0.5 + rng.random(filters)).astype(np.float32)),
            ]
        k = _t(self.weights[conv][0][1], x).permute(3, 2, 0, 1)
        pad = 0 if padding == "valid" else (rows // 2, cols // 2)
        beta, mean, var = (_t(a, x) for _, a in self.weights[bn])
        y = F.conv2d(x, k, stride=strides, padding=pad)
        y = F.batch_norm(y, mean, var, None, beta, training=False, eps=1e-3)
        self.acts[ours] = y = F.relu(y)
        return y

    def pool(self, x, kind):
        _, ours = self._next(kind)
        y = (
            F.max_pool2d(x, 3, 2)
            if kind == "max_pooling2d"
            else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        )
        self.acts[ours] = y
        return y

    def cat(self, xs, name=None):
        if name is None:
            name = self._next("concatenate")[1]
        self.acts[name] = y = torch.cat(xs, 1)
        return y

    def __call__(self, x):
        self.acts, self.count = OrderedDict(), {}
        c = self.conv_bn
        x = c(x, 32, 3, 3, strides=2, padding="valid")
        x = c(x, 32, 3, 3, padding="valid")
        x = self.pool(c(x, 64, 3, 3), "max_pooling2d")
        x = c(x, 80, 1, 1, padding="valid")
        x = self.pool(c(x, 192, 3, 3, padding="valid"), "max_pooling2d")
        for i, pw in enumerate((32, 64, 64)):
            b1 = c(x, 64, 1, 1)
            b5 = c(c(x, 48, 1, 1), 64, 5, 5)
            b3 = c(c(c(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
            bp = c(self.pool(x, "average_pooling2d"), pw, 1, 1)
            x = self.cat([b1, b5, b3, bp], f"mixed{i}")
        b3 = c(x, 384, 3, 3, strides=2, padding="valid")
        bd = c(c(c(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=2, padding="valid")
        x = self.cat([b3, bd, self.pool(x, "max_pooling2d")], "mixed3")
        for i, w in enumerate((128, 160, 160, 192)):
            b1 = c(x, 192, 1, 1)
            b7 = c(c(c(x, w, 1, 1), w, 1, 7), 192, 7, 1)
            bd = c(c(c(c(c(x, w, 1, 1), w, 7, 1), w, 1, 7), w, 7, 1), 192, 1, 7)
            bp = c(self.pool(x, "average_pooling2d"), 192, 1, 1)
            x = self.cat([b1, b7, bd, bp], f"mixed{4 + i}")
        b3 = c(c(x, 192, 1, 1), 320, 3, 3, strides=2, padding="valid")
        b7 = c(c(c(c(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, strides=2, padding="valid")
        x = self.cat([b3, b7, self.pool(x, "max_pooling2d")], "mixed8")
        for i in range(2):
            b1 = c(x, 320, 1, 1)
            b3 = c(x, 384, 1, 1)
            b3 = self.cat([c(b3, 384, 1, 3), c(b3, 384, 3, 1)], f"mixed9_{i}")
            bd = c(c(x, 448, 1, 1), 384, 3, 3)
            bd = self.cat([c(bd, 384, 1, 3), c(bd, 384, 3, 1)])
            bp = c(self.pool(x, "average_pooling2d"), 192, 1, 1)
            x = self.cat([b1, b3, bd, bp], f"mixed{9 + i}")
        self.acts["avg_pool"] = x = F.adaptive_avg_pool2d(x, 1)
        self.acts["avg_pool_flat"] = x = torch.flatten(x, 1)
        if self.building:
            self.weights["predictions"] = [
                ("predictions/kernel:0", _he(self.rng, (2048, 1000), 2048)),
                ("predictions/bias:0", (self.rng.standard_normal(1000) * 0.1).astype(np.float32)),
            ]
        (_, k), (_, bias) = self.weights["predictions"]
        self.acts["logits"] = x = x @ _t(k, x) + _t(bias, x)
        self.acts["predictions"] = F.softmax(x, dim=1)
        self.building = False
        return self.acts


def deploy_prototxt(layers):
    """Caffe text format (deploy.prototxt style) for caffe_googlenet_layers(..., with_training_layers=False):
    an Input layer, the layers with their parameters, a Softmax `prob` at the end."""
    enums = {"pool": {0: "MAX", 1: "AVE"}}
    out = [
        'name: "GoogleNet"',
        'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n'
        "  input_param { shape: { dim: 10 dim: 3 dim: 224 dim: 224 } }\n}",
    ]
    for ly in layers + [{"name": "prob", "type": "Softmax", "bottom": ["loss3/classifier"], "top": ["prob"]}]:
        text = [f'  name: "{ly["name"]}"', f'  type: "{ly["type"]}"']
        text += [f'  bottom: "{b}"' for b in ly.get("bottom", [])] + [
            f'  top: "{t}"' for t in ly.get("top", [])
        ]
        for pname, values in ly.get("params", {}).items():
            fields = " ".join(f"{k}: {enums.get(k, {}).get(v, v)}" for k, v in values.items())
            text.append(f"  {pname} {{ {fields} }}")
        out.append("layer {\n" + "\n".join(text) + "\n}")
    return "\n".join(out) + "\n"
