# undefined: CellA, CellB
import torch
import torch.nn as nn
import torch.nn.functional as F


class PNASLite(nn.Module):
    """Small PNASNet-style CIFAR net: stacks of PNAS cells with two reduction cells."""

    def __init__(self, num_planes=24, num_classes=10):
        super(PNASLite, self).__init__()
        self.in_planes = num_planes
        self.conv1 = nn.Conv2d(3, num_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_planes)

        self.layer1 = nn.Sequential(
            CellA(num_planes, num_planes, stride=1),
            CellB(num_planes, num_planes, stride=1),
        )
        self.layer2 = CellA(num_planes, num_planes * 2, stride=2)
        self.layer3 = nn.Sequential(
            CellB(num_planes * 2, num_planes * 2, stride=1),
            CellA(num_planes * 2, num_planes * 2, stride=1),
        )
        self.layer4 = CellB(num_planes * 2, num_planes * 4, stride=2)
        self.linear = nn.Linear(num_planes * 4, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.adaptive_avg_pool2d(out, 1)
        out = self.linear(out.view(out.size(0), -1))
        return out
