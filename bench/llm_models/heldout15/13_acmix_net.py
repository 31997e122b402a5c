# undefined: ACmix
import torch
import torch.nn as nn
import torch.nn.functional as F


class ACmixBottleneck(nn.Module):
    """ResNet bottleneck with the 3x3 conv replaced by ACmix (conv + self-attention mix)."""
    expansion = 2

    def __init__(self, inplanes, planes, stride=1, head=4, kernel_att=7):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = ACmix(planes, planes, kernel_att=kernel_att, head=head, kernel_conv=3, stride=1, dilation=1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pool = nn.AvgPool2d(2, 2) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out_planes:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(inplanes, out_planes, kernel_size=1, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.pool(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False),   # 16x16
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.layer1 = ACmixBottleneck(32, 32, stride=1, head=4)      # 16x16, 64 ch
        self.layer2 = ACmixBottleneck(64, 48, stride=2, head=4)      # -> 8x8, 96 ch
        self.layer3 = ACmixBottleneck(96, 64, stride=1, head=8, kernel_att=5)  # 8x8, 128 ch
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)
