# undefined: StdConv2d, DropBlock2D
import torch
import torch.nn as nn
import torch.nn.functional as F


class PreActBottleneckWS(nn.Module):
    """BiT-style pre-activation bottleneck with weight-standardised convs."""

    def __init__(self, in_chs, out_chs, stride=1, drop_prob=0.0):
        super().__init__()
        mid = out_chs // 4
        self.norm1 = nn.GroupNorm(8, in_chs)
        self.conv1 = StdConv2d(in_chs, mid, 1)
        self.norm2 = nn.GroupNorm(8, mid)
        self.conv2 = StdConv2d(mid, mid, 3, stride=stride, padding=1)
        self.norm3 = nn.GroupNorm(8, mid)
        self.conv3 = StdConv2d(mid, out_chs, 1)
        self.dropblock = DropBlock2D(block_size=3, drop_prob=drop_prob)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = StdConv2d(in_chs, out_chs, 1, stride=stride)

    def forward(self, x):
        x_preact = F.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(x_preact)
        x = self.conv1(x_preact)
        x = self.conv2(F.relu(self.norm2(x)))
        x = self.conv3(F.relu(self.norm3(x)))
        x = self.dropblock(x)
        return x + shortcut


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        p = float(prm.get("dropblock", 0.1))

        self.stem = StdConv2d(in_ch, 64, kernel_size=3, stride=1, padding=1)
        cfg = [(128, 1, 0.0), (128, 1, 0.0), (256, 2, p), (256, 1, p), (512, 2, p)]
        blocks = []
        c = 64
        for out_c, s, dp in cfg:
            blocks.append(PreActBottleneckWS(c, out_c, s, dp))
            c = out_c
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.GroupNorm(32, c)
        self.head = nn.Conv2d(c, num_classes, kernel_size=1)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = F.relu(self.norm(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.head(x).flatten(1)
