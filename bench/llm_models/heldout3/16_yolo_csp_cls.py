# undefined: Conv, C3, SPPF
import torch
import torch.nn as nn


class Net(nn.Module):
    """YOLOv5-style CSP backbone (nano width) used as a CIFAR-10 classifier."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))

        self.backbone = nn.Sequential(
            Conv(in_ch, 32, 3, 1),       # 32x32
            Conv(32, 64, 3, 2),          # 16x16
            C3(64, 64, 1),
            Conv(64, 128, 3, 2),         # 8x8
            C3(128, 128, 2),
            Conv(128, 256, 3, 2),        # 4x4
            C3(256, 256, 1),
            SPPF(256, 256, 5),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=dropout, inplace=True)
        self.linear = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.backbone(x)
        x = self.pool(x).flatten(1)
        return self.linear(self.drop(x))
