"""torchvision's ResNet-18 / ResNet-50 written again in plain torch.nn (no torchvision): the tests' oracle.

Written from torchvision/models/resnet.py as docs/zoo.md summarises it (BasicBlock, Bottleneck with the
stride on its 3x3, downsample = conv 1x1 + BatchNorm), not from scratchdream's spec. `forward` returns
{name: activation} under scratchdream's names: a conv's entry is its BatchNorm's output (the two are one
folded conv there), `<block>.add` the sum before the block's ReLU, `<block>` the block's output.
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)


class Block(nn.Module):
    """BasicBlock (two 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1 four times wider)."""

    def __init__(self, cin, width, stride, bottleneck):
        super().__init__()
        cout = width * (4 if bottleneck else 1)
        if bottleneck:
            self.conv1, self.bn1 = conv_bn(cin, width, 1)
            self.conv2, self.bn2 = conv_bn(width, width, 3, stride)
            self.conv3, self.bn3 = conv_bn(width, cout, 1)
            self.n = 3
        else:
            self.conv1, self.bn1 = conv_bn(cin, width, 3, stride)
            self.conv2, self.bn2 = conv_bn(width, width, 3)
            self.n = 2
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride))

    def forward(self, x, acts, name):
        out = x
        for i in range(1, self.n + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            acts[f"{name}.conv{i}"] = out
            if i < self.n:
                acts[f"{name}.relu{i}"] = out = F.relu(out)
        shortcut = x
        if self.downsample is not None:
            acts[f"{name}.downsample"] = shortcut = self.downsample(x)
        acts[f"{name}.add"] = out = out + shortcut
        acts[name] = out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, depth=50, classes=1000):
        super().__init__()
        bottleneck, counts = {18: (False, [2, 2, 2, 2]), 50: (True, [3, 4, 6, 3])}[depth]
        self.conv1, self.bn1 = conv_bn(3, 64, 7, 2)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        cin = 64
        for stage, (width, n) in enumerate(zip([64, 128, 256, 512], counts), 1):
            blocks = []
            for i in range(n):
                blocks.append(Block(cin, width, 2 if stage > 1 and i == 0 else 1, bottleneck))
                cin = width * (4 if bottleneck else 1)
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        acts = OrderedDict()
        acts["conv1"] = x = self.bn1(self.conv1(x))
        acts["relu"] = x = F.relu(x)
        acts["maxpool"] = x = self.maxpool(x)
        for stage in range(1, 5):
            for i, block in enumerate(getattr(self, f"layer{stage}")):
                x = block(x, acts, f"layer{stage}.{i}")
        acts["avgpool"] = x = self.avgpool(x)
        acts["flatten"] = x = torch.flatten(x, 1)
        acts["fc"] = self.fc(x)
        return acts
