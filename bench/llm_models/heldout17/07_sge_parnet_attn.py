# undefined: SpatialGroupEnhance, ParNetAttention
import torch
import torch.nn as nn


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k=3, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class Net(nn.Module):
    """Shallow-wide ParNet-like net: parallel branches with SSE attention, SGE after downsampling."""

    def __init__(self, num_classes=10, width=(32, 64, 96), groups=8):
        super().__init__()
        self.down1 = ConvBN(3, width[0], 3, 1)
        self.down2 = nn.Sequential(ConvBN(width[0], width[1], 3, 2), SpatialGroupEnhance(groups=groups))
        self.down3 = nn.Sequential(ConvBN(width[1], width[2], 3, 2), SpatialGroupEnhance(groups=groups))
        self.branch1 = nn.Sequential(ParNetAttention(channel=width[1]), ParNetAttention(channel=width[1]))
        self.branch2 = nn.Sequential(ParNetAttention(channel=width[2]), ParNetAttention(channel=width[2]))
        self.fuse = ConvBN(width[1] + width[2], 128, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.down1(x)
        x1 = self.down2(x)
        x2 = self.down3(x1)
        b1 = nn.functional.avg_pool2d(self.branch1(x1), 2)
        b2 = self.branch2(x2)
        y = self.fuse(torch.cat([b1, b2], dim=1))
        return self.fc(self.pool(y).flatten(1))
