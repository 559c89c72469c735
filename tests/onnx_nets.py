"""Torch nets exported to ONNX by torch.onnx.export (the legacy TorchScript exporter), with their torch twin
kept for the comparison: every layer's activation, and the input gradient.

    export(model, path, H, W, preserve_bn=False)    the .onnx file (opset 13); preserve_bn keeps the
                                                     BatchNormalization nodes the exporter would fold
    torch_acts(model, x) -> {module path: output}    forward hooks on every module
    module_path(onnx node name) -> module path       '/inc3a/b2/b2.0/Conv' -> 'inc3a.b2.0'
Nets: VGGLike (conv/relu/maxpool, Flatten, Linear, Softmax), GoogLeNetLike (LRN, Inception modules with
concat, max pools in ceil mode, average pool, Dropout, a view(N, -1) that exports as Shape -> Gather ->
Unsqueeze -> Concat -> Reshape), ResNetLike (BatchNorm after conv and after an Add, residual adds,
GlobalAveragePool). torch has no ONNX LRN of its own (it exports F.local_response_norm as 30 nodes), so
the LRN module below exports as one LRN node through a symbolic.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_nets import VGG_CFG, big_linear, randomise


class _LRNOp(torch.autograd.Function):
    """Only while exporting: the ONNX LRN node, whose formula (α/n, window centred) is torch's."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        return F.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size, alpha, beta, k):
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class LRN(nn.Module):
    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.args = (size, alpha, beta, k)

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return _LRNOp.apply(x, *self.args)
        return F.local_response_norm(x, *self.args)


def conv_relu(cin, cout, k, stride=1, padding=0):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding), nn.ReLU())


class VGGLike(nn.Module):
    def __init__(self, widths=(8, "M", 16, 16, "M", 24, "M"), classes=10, side=4, hidden=(32,)):
        super().__init__()
        layers, cin = [], 3
        for v in widths:
            layers += [nn.MaxPool2d(2, 2)] if v == "M" else [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = cin if v == "M" else v
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        head, fin = [], cin * side * side  # torchvision's: [Linear, ReLU, Dropout] per hidden layer, Linear
        for width in hidden:
            head += [big_linear(fin, width), nn.ReLU(), nn.Dropout()]
            fin = width
        self.classifier = nn.Sequential(*head, big_linear(fin, classes))
        self.softmax = nn.Softmax(1)

    def forward(self, x):
        return self.softmax(self.classifier(self.flatten(self.features(x))))


class Inception(nn.Module):
    """Caffe GoogLeNet's module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, joined by channel."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp):
        super().__init__()
        self.b1 = conv_relu(cin, c1, 1)
        self.b2 = nn.Sequential(conv_relu(cin, c3r, 1), conv_relu(c3r, c3, 3, padding=1))
        self.b3 = nn.Sequential(conv_relu(cin, c5r, 1), conv_relu(c5r, c5, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), conv_relu(cin, cp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def vgg16():
    """torchvision's VGG16 at 224 x 224 (its adaptive average pool is the identity there; left out)."""
    return VGGLike(VGG_CFG["vgg16"], classes=1000, side=7, hidden=(4096, 4096))


def bvlc_googlenet():
    """bvlc_googlenet's layers and widths (the ONNX zoo's googlenet), at 224 x 224."""
    return GoogLeNetLike(BVLC_TABLE, stem=(64, 192), classes=1000, pool=7)


SMALL_TABLE = {"3a": (16, 8, 8, 12, 4, 4, 4), "3b": (28, 8, 8, 12, 4, 8, 4)}
BVLC_TABLE = {  # bvlc_googlenet's inception modules: in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}  # fmt: skip


class GoogLeNetLike(nn.Module):
    """bvlc_googlenet's shape (the ONNX zoo's googlenet): stem with LRN, inception modules, max pools in
    ceil mode between the stages, a 7x7 average pool, dropout, the classifier; `table` sets the size."""

    def __init__(self, table=SMALL_TABLE, stem=(8, 16), classes=10, pool=4):
        super().__init__()
        self.conv1 = conv_relu(3, stem[0], 7, stride=2, padding=3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.norm1 = LRN()
        self.conv2 = conv_relu(stem[0], stem[0], 1)
        self.conv3 = conv_relu(stem[0], stem[1], 3, padding=1)
        self.norm2 = LRN()
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        names = list(table)
        for i, name in enumerate(names):
            setattr(self, f"inc{name}", Inception(*table[name]))
            if i + 1 < len(names) and names[i + 1][0] != name[0]:
                setattr(self, f"pool{name[0]}", nn.MaxPool2d(3, 2, ceil_mode=True))
        self.order = [n for name in names for n in (f"inc{name}", f"pool{name[0]}") if hasattr(self, n)]
        self.avgpool = nn.AvgPool2d(pool, 1)
        self.dropout = nn.Dropout(0.4)
        last = table[names[-1]]
        self.fc = nn.Linear(last[1] + last[3] + last[5] + last[6], classes)

    def forward(self, x):
        x = self.pool2(self.norm2(self.conv3(self.conv2(self.norm1(self.pool1(self.conv1(x)))))))
        for name in dict.fromkeys(self.order):
            x = getattr(self, name)(x)
        x = self.dropout(self.avgpool(x))
        return self.fc(x.view(x.size(0), -1))


class Add(nn.Module):
    """a + b as a module, so that the hooks see the residual sum under a name."""

    def forward(self, a, b):
        return a + b


class Residual(nn.Module):
    """x -> conv-BN-ReLU -> conv-BN, plus x (or a 1x1 projection of it when the width changes), ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.add, self.relu2 = Add(), nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.add(y, x if self.down is None else self.down(x)))


class ResNetLike(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block1, self.block2 = Residual(8, 8), Residual(8, 16, stride=2)
        self.post = nn.BatchNorm2d(16)  # a BatchNorm after an Add: no conv to fold it into
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.flatten(self.gap(self.post(self.block2(self.block1(self.stem(x)))))))


class ActivationsLike(nn.Module):
    """conv -> LeakyReLU(0.2) -> conv -> ReLU6 -> max pool -> linear: the two activations other than ReLU
    (ONNX LeakyRelu, and Clip(0, 6) with its bounds as inputs at opset 13)."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1, self.leaky = nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2)
        self.conv2, self.relu6 = nn.Conv2d(8, 12, 3, padding=1), nn.ReLU6()
        self.pool, self.flatten = nn.MaxPool2d(4, 4), nn.Flatten()
        self.fc = nn.Linear(12 * 4 * 4, classes)

    def widen(self):
        """After the random weights: conv2 scaled up so that ReLU6 clips a fair share of its values at 6."""
        with torch.no_grad():
            self.conv2.weight.mul_(16.0)
            self.conv2.bias.mul_(16.0)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu6(self.conv2(self.leaky(self.conv1(x)))))))


def build(cls, seed, **kw):
    model = cls(**kw).eval()
    randomise(model, seed)
    if hasattr(model, "widen"):
        model.widen()
    return model


def export(model, path, H, W, preserve_bn=False):
    """model -> path (.onnx, opset 13) with a fixed (1, 3, H, W) input."""
    import warnings

    mode = torch.onnx.TrainingMode.PRESERVE if preserve_bn else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            model, torch.zeros(1, 3, H, W), str(path), dynamo=False, opset_version=13, training=mode
        )
    return str(path)


def torch_acts(model, x):
    """{module path: its output} for every module of `model` run on x (numpy or tensor)."""
    acts, hooks = {}, []
    for name, m in model.named_modules():
        if name:
            hooks.append(m.register_forward_hook(lambda m, i, o, name=name: acts.__setitem__(name, o)))
    try:
        with torch.no_grad():
            acts[""] = model(torch.as_tensor(x))
    finally:
        for h in hooks:
            h.remove()
    return acts


def module_path(onnx_name):
    """The torch module an exported node came from. The exporter names a node by its modules' scopes, each
    the module's path from the last scope that is not a prefix of it ('/inc3a/b2/b2.0/b2.0.0/Conv' is
    module inc3a.b2.0.0); None for a node outside any module ('/Reshape' of x.view)."""
    path = []
    for part in onnx_name.strip("/").split("/")[:-1]:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path) or None


def module_output(model, x, path):
    """(input tensor with grad, the output of module `path`) for a float64 or float32 x."""
    xt = torch.tensor(np.array(x), requires_grad=True)
    got = {}
    h = model.get_submodule(path).register_forward_hook(lambda m, i, o: got.__setitem__("a", o))
    try:
        model(xt)
    finally:
        h.remove()
    return xt, got["a"]


def smooth_input(H, W, seed, dtype=np.float32):
    """A picture-like (1, 3, H, W) input: smooth fields plus noise (ReLU kinks and pooling ties unlikely)."""
    from torch_nets import smooth_image, tv_normalise

    return tv_normalise(smooth_image(H, W, seed)).astype(dtype)
