# undefined: RepNCSPELAN4, SPPELAN, C2PSA
import torch
import torch.nn as nn


def cbs(c1, c2, k=1, s=1):
    """Conv-BN-SiLU."""
    return nn.Sequential(
        nn.Conv2d(c1, c2, k, s, k // 2, bias=False),
        nn.BatchNorm2d(c2),
        nn.SiLU(inplace=True),
    )


class Net(nn.Module):
    """YOLOv9-GELAN backbone + YOLO11 C2PSA used as a CIFAR-10 classifier."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.backbone = nn.Sequential(
            cbs(in_shape[1], 32, 3, 1),
            cbs(32, 64, 3, 2),                    # 16x16
            RepNCSPELAN4(64, 64, 64, 32, 1),
            cbs(64, 128, 3, 2),                   # 8x8
            RepNCSPELAN4(128, 128, 128, 64, 1),
            cbs(128, 256, 3, 2),                  # 4x4
            SPPELAN(256, 256, 128),
            C2PSA(256, 256, n=1, e=0.5),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=prm.get("dropout", 0.0), inplace=True)
        self.linear = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.backbone(x)
        return self.linear(self.drop(self.pool(x).flatten(1)))
