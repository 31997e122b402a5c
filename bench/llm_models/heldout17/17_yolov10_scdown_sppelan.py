# undefined: SCDown, SPPELAN
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


class ResUnit(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1 = ConvBNSiLU(c, c, 3, 1)
        self.cv2 = ConvBNSiLU(c, c, 3, 1)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class Net(nn.Module):
    """YOLOv10/YOLOv9-flavoured backbone (SCDown downsampling, SPPELAN neck) with a classify head."""

    def __init__(self, num_classes=10, width=(16, 32, 64, 128)):
        super().__init__()
        c0, c1, c2, c3 = width
        self.stem = ConvBNSiLU(3, c0, 3, 1)
        self.stage1 = nn.Sequential(ConvBNSiLU(c0, c1, 3, 2), ResUnit(c1))
        self.stage2 = nn.Sequential(SCDown(c1, c2, 3, 2), ResUnit(c2))
        self.stage3 = nn.Sequential(SCDown(c2, c3, 3, 2), ResUnit(c3))
        self.sppelan = SPPELAN(c3, c3, c3 // 2, k=5)
        self.head_conv = ConvBNSiLU(c3, 256, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0, inplace=True)
        self.linear = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        x = self.sppelan(x)
        x = self.linear(self.drop(self.pool(self.head_conv(x)).flatten(1)))
        return x
