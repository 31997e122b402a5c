# undefined: involution
"""RedNet-style CIFAR-10 network: bottlenecks whose 3x3 conv is replaced by involution.

Li et al., "Involution: Inverting the Inherence of Convolution for Visual Recognition", CVPR 2021
(official code: github.com/d-li14/involution).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class RedBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = mid_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = involution(mid_channels, 7, stride)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            involution(32, 3, 1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.layer1 = nn.Sequential(RedBottleneck(32, 16), RedBottleneck(64, 16))
        self.layer2 = nn.Sequential(RedBottleneck(64, 32, stride=2), RedBottleneck(128, 32))
        self.layer3 = nn.Sequential(RedBottleneck(128, 64, stride=2), RedBottleneck(256, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get('dropout', 0.0))
        self.fc = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.dropout(x))
