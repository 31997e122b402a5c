# undefined: C3k2, SCDown
import torch
import torch.nn as nn


class CBS(nn.Module):
    """Conv-BN-SiLU."""

    def __init__(self, c1, c2, k=3, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    """YOLO11-style backbone (C3k2 + SCDown) with a classification head."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        nc = out_shape[0]
        self.backbone = nn.Sequential(
            CBS(in_shape[1], 32, 3, 1),           # 32x32
            CBS(32, 64, 3, 2),                    # 16x16
            C3k2(64, 64, 1, False, 0.25),
            SCDown(64, 128, 3, 2),                # 8x8
            C3k2(128, 128, 1, True),
            SCDown(128, 256, 3, 2),               # 4x4
            C3k2(256, 256, n=1, c3k=True, e=0.5),
        )
        self.head_conv = CBS(256, 512, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=prm.get("dropout", 0.0), inplace=True)
        self.linear = nn.Linear(512, nc)

    def forward(self, x):
        x = self.backbone(x)
        x = self.head_conv(x)
        return self.linear(self.drop(self.pool(x).flatten(1)))
