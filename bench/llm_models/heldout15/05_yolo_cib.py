# undefined: CIB, AConv
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """YOLOv10-flavoured backbone turned into a CIFAR-10 classifier.

    Downsampling with YOLOv9's AConv (avg-pool + strided conv) and compact
    inverted blocks (CIB) from YOLOv10, some with the large-kernel RepVGGDW.
    """

    def __init__(self, num_classes=10, width_mult=1.0):
        super().__init__()
        c = [int(v * width_mult) for v in (16, 32, 64, 128)]
        self.stem = nn.Sequential(
            nn.Conv2d(3, c[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.SiLU(inplace=True),
        )
        self.layer1 = nn.Sequential(AConv(c[0], c[1]), CIB(c[1], c[1], shortcut=True, e=0.5))          # 16x16
        self.layer2 = nn.Sequential(AConv(c[1], c[2]), CIB(c[2], c[2], shortcut=True, e=0.5, lk=True))  # 8x8
        self.layer3 = nn.Sequential(
            AConv(c[2], c[3]),                                                                           # 4x4
            CIB(c[3], c[3], shortcut=True, e=0.5, lk=True),
            CIB(c[3], c[3], shortcut=False),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.2)
        self.linear = nn.Linear(c[3], num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.pool(x).flatten(1)
        return self.linear(self.drop(x))
