# undefined: RepC3, Concat
import torch
import torch.nn as nn


def conv_bn_silu(c1, c2, k=3, s=1):
    return nn.Sequential(
        nn.Conv2d(c1, c2, k, s, k // 2, bias=False),
        nn.BatchNorm2d(c2),
        nn.SiLU(inplace=True),
    )


class Net(nn.Module):
    """Tiny RT-DETR-style backbone (RepC3 stages) with a multi-scale pooled classifier head."""

    def __init__(self, num_classes=10, width=(16, 32, 64, 96), n=1):
        super().__init__()
        c0, c1, c2, c3 = width
        self.stem = conv_bn_silu(3, c0, 3, 1)
        self.down1 = conv_bn_silu(c0, c1, 3, 2)
        self.stage1 = RepC3(c1, c1, n=n)
        self.down2 = conv_bn_silu(c1, c2, 3, 2)
        self.stage2 = RepC3(c2, c2, n=n)
        self.down3 = conv_bn_silu(c2, c3, 3, 2)
        self.stage3 = RepC3(c3, c3, n=n, e=0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.concat = Concat(1)
        self.fc = nn.Linear(c1 + c2 + c3, num_classes)

    def forward(self, x):
        x = self.stem(x)
        p3 = self.stage1(self.down1(x))
        p4 = self.stage2(self.down2(p3))
        p5 = self.stage3(self.down3(p4))
        feats = self.concat([self.pool(p3), self.pool(p4), self.pool(p5)])
        return self.fc(feats.flatten(1))
