# undefined: fixed_padding
import torch
import torch.nn as nn
import torch.nn.functional as F


class SepConvSame(nn.Module):
    """Depthwise-separable conv with TF-'SAME' padding (DeepLab-Xception style)."""

    def __init__(self, inplanes, planes, kernel_size=3, stride=1, dilation=1, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, inplanes, kernel_size, stride, 0, dilation,
                               groups=inplanes, bias=bias)
        self.bn = nn.BatchNorm2d(inplanes)
        self.pointwise = nn.Conv2d(inplanes, planes, 1, 1, 0, 1, 1, bias=bias)

    def forward(self, x):
        x = fixed_padding(x, self.conv1.kernel_size[0], dilation=self.conv1.dilation[0])
        x = self.conv1(x)
        x = self.bn(x)
        x = self.pointwise(x)
        return x


class EntryFlowUnit(nn.Module):
    def __init__(self, inplanes, planes, stride=1, dilation=1):
        super().__init__()
        self.skip = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                  nn.BatchNorm2d(planes)) if (planes != inplanes or stride != 1) else nn.Identity()
        self.rep = nn.Sequential(
            nn.ReLU(),
            SepConvSame(inplanes, planes, 3, 1, dilation),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            SepConvSame(planes, planes, 3, stride, dilation),
            nn.BatchNorm2d(planes),
        )

    def forward(self, inp):
        return self.rep(inp) + self.skip(inp)


class MiniXception(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.block1 = EntryFlowUnit(32, 64, stride=2)
        self.block2 = EntryFlowUnit(64, 128, stride=2)
        self.block3 = EntryFlowUnit(128, 128, stride=1, dilation=2)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.block3(self.block2(self.block1(x)))
        x = F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1)
        return self.fc(x)
