# undefined: NonLocalAttn
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.bn2(self.conv2(x))
        return F.relu(x + shortcut, inplace=True)


class Net(nn.Module):
    """ResNet-ish CIFAR model with timm-style non-local attention inserted after
    stages 2 and 3 (as in the BAT / NL-ResNet recipes)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        widths = prm.get("widths", (32, 64, 128))

        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.layer1 = nn.Sequential(ResBlock(widths[0], widths[0]), ResBlock(widths[0], widths[0]))
        self.layer2 = nn.Sequential(
            ResBlock(widths[0], widths[1], stride=2),
            ResBlock(widths[1], widths[1]),
            NonLocalAttn(widths[1], use_scale=True, rd_ratio=1 / 4),
        )
        self.layer3 = nn.Sequential(
            ResBlock(widths[1], widths[2], stride=2),
            NonLocalAttn(widths[2], rd_ratio=1 / 8, rd_divisor=8),
            ResBlock(widths[2], widths[2]),
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.global_pool(x).flatten(1)
        return self.fc(x)
