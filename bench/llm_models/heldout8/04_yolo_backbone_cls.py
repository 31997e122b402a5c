# undefined: Focus, C3, SPPF
import torch
import torch.nn as nn
import torch.nn.functional as F


def down(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.SiLU(inplace=True),
    )


class Net(nn.Module):
    """YOLOv5-style backbone used as an image classifier."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.1))

        self.focus = Focus(in_ch, 32, k=3)          # 32x32 -> 16x16
        self.c3_1 = C3(32, 32, n=1)
        self.down1 = down(32, 64)                   # 16 -> 8
        self.c3_2 = C3(64, 64, n=2)
        self.down2 = down(64, 128)                  # 8 -> 4
        self.c3_3 = C3(128, 128, n=1, shortcut=False)
        self.sppf = SPPF(128, 128, k=5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(128, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.c3_1(self.focus(x))
        x = self.c3_2(self.down1(x))
        x = self.c3_3(self.down2(x))
        x = self.sppf(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.drop(x))
