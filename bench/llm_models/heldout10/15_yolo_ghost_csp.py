# undefined: GhostConv, BottleneckCSP, autopad
import torch
import torch.nn as nn


class Net(nn.Module):
    """YOLOv5-ghost-like backbone for CIFAR."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        gw = prm.get("width_multiple", 0.5)
        ch = [int(c * gw) for c in (64, 128, 256, 512)]  # 32, 64, 128, 256
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], ch[0], 3, 1, autopad(3), bias=False),
            nn.BatchNorm2d(ch[0]),
            nn.SiLU(),
        )
        self.layers = nn.Sequential(
            GhostConv(ch[0], ch[1], 3, 2),             # 16x16
            BottleneckCSP(ch[1], ch[1], n=1),
            GhostConv(ch[1], ch[2], 3, 2),             # 8x8
            BottleneckCSP(ch[2], ch[2], 2, True),
            GhostConv(ch[2], ch[3], 3, 2),             # 4x4
            BottleneckCSP(ch[3], ch[3], 1, shortcut=False),
            GhostConv(ch[3], ch[3], 1, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(ch[3], out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        return self.fc(self.pool(x).flatten(1))
