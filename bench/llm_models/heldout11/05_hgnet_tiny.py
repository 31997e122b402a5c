# undefined: HGStem, HGBlock
import torch
import torch.nn as nn


class DWDown(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 1, groups=c, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.conv(x))


class Net(nn.Module):
    """PP-HGNetV2 style classifier (ultralytics rtdetr-resnet/hgnet yaml) shrunk for CIFAR."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = HGStem(in_shape[1], 16, 32)  # /4 -> 8x8
        self.stage1 = HGBlock(32, 16, 64, 3, 3)
        self.down1 = DWDown(64)  # -> 4x4
        self.stage2 = nn.Sequential(
            HGBlock(64, 32, 128, k=3, n=3, lightconv=True, shortcut=False),
            HGBlock(128, 32, 128, k=3, n=3, lightconv=True, shortcut=True),
        )
        self.down2 = DWDown(128)  # -> 2x2
        self.stage3 = HGBlock(128, 64, 256, k=5, n=3, lightconv=True, shortcut=False, act=nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(prm.get("dropout", 0.0))
        self.linear = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.stage2(self.down1(x))
        x = self.stage3(self.down2(x))
        x = self.pool(x).flatten(1)
        return self.linear(self.drop(x))
