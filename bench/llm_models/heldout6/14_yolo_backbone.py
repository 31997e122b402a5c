# undefined: Conv, C3, SPPF
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        w = prm.get("width", 32)
        self.backbone = nn.Sequential(
            Conv(in_channels, w, 3, 1),          # 32x32
            Conv(w, w * 2, 3, 2),                # 16x16
            C3(w * 2, w * 2, n=1),
            Conv(w * 2, w * 4, 3, 2),            # 8x8
            C3(w * 4, w * 4, n=2),
            Conv(w * 4, w * 8, 3, 2),            # 4x4
            C3(w * 8, w * 8, n=1, shortcut=True),
            SPPF(w * 8, w * 8, k=5),
        )
        self.head = nn.Sequential(
            Conv(w * 8, 512, 1, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(p=prm.get("dropout", 0.2)),
            nn.Linear(512, num_classes),
        )
        self.to(device)

    def forward(self, x):
        return self.head(self.backbone(x))
