# undefined: SPPCSPC, MP
import torch
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, c1, c2, k=3, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    """YOLOv7-tiny flavoured classifier: conv/MP downsampling + SPPCSPC neck."""

    def __init__(self, num_classes=10, ch=(16, 32, 64)):
        super().__init__()
        self.stem = ConvBlock(3, ch[0], 3, 1)
        self.mp1 = MP()
        self.block1 = nn.Sequential(ConvBlock(ch[0], ch[1], 3, 1), ConvBlock(ch[1], ch[1], 3, 1))
        self.mp2 = MP()
        self.block2 = nn.Sequential(ConvBlock(ch[1], ch[2], 3, 1), ConvBlock(ch[2], ch[2], 3, 1))
        self.mp3 = MP(k=2)
        self.sppcspc = SPPCSPC(ch[2], ch[2] * 2, k=(3, 5, 7))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(ch[2] * 2, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.block1(self.mp1(x))
        x = self.block2(self.mp2(x))
        x = self.sppcspc(self.mp3(x))
        return self.head(self.pool(x).flatten(1))
