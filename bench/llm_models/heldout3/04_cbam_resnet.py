# undefined: CBAM, conv3x3, conv1x1
import torch
import torch.nn as nn
import torch.nn.functional as F


class CBAMBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.cbam = CBAM(planes, 16)
        self.shortcut = None
        if stride != 1 or inplanes != planes:
            self.shortcut = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out = self.cbam(out)
        return F.relu(out + identity, inplace=True)


class Net(nn.Module):
    """ResNet-14-ish with CBAM attention in every block."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        base = int(prm.get("base_width", 32))

        self.conv1 = conv3x3(in_ch, base)
        self.bn1 = nn.BatchNorm2d(base)

        cfg = [(base, 1), (base, 1), (base * 2, 2), (base * 2, 1), (base * 4, 2), (base * 4, 1)]
        blocks = []
        c = base
        for planes, stride in cfg:
            blocks.append(CBAMBlock(c, planes, stride))
            c = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        return self.fc(x)
