# undefined: ScConv, EMA
import torch
import torch.nn as nn


def cbr(c1, c2, s=1):
    return nn.Sequential(nn.Conv2d(c1, c2, 3, s, 1, bias=False), nn.BatchNorm2d(c2), nn.SiLU(inplace=True))


class ScEMABlock(nn.Module):
    """Residual block where the 3x3 conv is replaced with SCConv, followed by EMA attention."""

    def __init__(self, c, factor=8):
        super().__init__()
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.SiLU(inplace=True))
        self.scconv = ScConv(c, group_num=4, gate_treshold=0.5, alpha=1 / 2, squeeze_radio=2,
                             group_size=2, group_kernel_size=3)
        self.bn = nn.BatchNorm2d(c)
        self.attn = EMA(c, factor=factor)

    def forward(self, x):
        y = self.bn(self.scconv(self.pw(x)))
        y = self.attn(y)
        return x + y


class Net(nn.Module):
    """YOLO-style CIFAR classifier using SCConv blocks with Efficient Multi-scale Attention."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = cbr(in_shape[1], 32)
        self.stage1 = nn.Sequential(cbr(32, 64, 2), ScEMABlock(64, factor=8))      # 16x16
        self.stage2 = nn.Sequential(cbr(64, 128, 2), ScEMABlock(128, factor=16))   # 8x8
        self.stage3 = nn.Sequential(cbr(128, 256, 2), ScEMABlock(256, factor=32))  # 4x4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(self.pool(x).flatten(1))
