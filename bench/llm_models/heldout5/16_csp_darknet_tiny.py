# undefined: Conv, C3, SPPF
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.backbone = nn.Sequential(
            Conv(in_shape[1], 32, 3, 1),   # 32x32
            Conv(32, 64, 3, 2),            # 16x16
            C3(64, 64, n=1),
            Conv(64, 128, 3, 2),           # 8x8
            C3(128, 128, n=2),
            Conv(128, 256, 3, 2),          # 4x4
            C3(256, 256, n=1),
            SPPF(256, 256, k=5),
        )
        # YOLOv5-style classification head
        self.head = nn.Sequential(
            Conv(256, 512, 1, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(p=prm.get("dropout", 0.2)),
            nn.Linear(512, out_shape[0]),
        )
        self.to(device)

    def forward(self, x):
        return self.head(self.backbone(x))
