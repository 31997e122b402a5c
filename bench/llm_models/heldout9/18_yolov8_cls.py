# undefined: C2f, SPP, DWConv
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.backbone = nn.Sequential(
            DWConv(16, 32, 3, 2),        # 16x16
            C2f(32, 32, 1, True),
            DWConv(32, 64, 3, 2),        # 8x8
            C2f(64, 64, 2, True),
            DWConv(64, 128, 3, 2),       # 4x4
            C2f(128, 128, 1, True),
            SPP(128, 128, k=(5, 9, 13)),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0)
        self.linear = nn.Linear(128, out_shape[0])

    def forward(self, x):
        x = self.backbone(self.stem(x))
        return self.linear(self.drop(self.pool(x).flatten(1)))
