# undefined: C2fCIB, PSABlock
import torch
import torch.nn as nn


class ConvBNSiLU(nn.Module):
    def __init__(self, c1, c2, k=3, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class YOLOv10ClsNet(nn.Module):
    """YOLOv10-style backbone (C2fCIB stages + PSA block) with a classification head."""

    def __init__(self, num_classes=10, width=(16, 32, 64, 128)):
        super().__init__()
        w0, w1, w2, w3 = width
        self.stem = ConvBNSiLU(3, w0, 3, 1)
        self.stage1 = nn.Sequential(ConvBNSiLU(w0, w1, 3, 2), C2fCIB(w1, w1, n=1, shortcut=True))
        self.stage2 = nn.Sequential(ConvBNSiLU(w1, w2, 3, 2), C2fCIB(w2, w2, n=1, shortcut=True, lk=True))
        self.stage3 = nn.Sequential(
            ConvBNSiLU(w2, w3, 3, 2),
            C2fCIB(w3, w3, n=2, shortcut=True, lk=False),
            PSABlock(w3, attn_ratio=0.5, num_heads=w3 // 64, shortcut=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.1)
        self.linear = nn.Linear(w3, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.linear(self.drop(self.pool(x).flatten(1)))
