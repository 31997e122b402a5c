# undefined: ODConv2d, GCT
import torch
import torch.nn as nn


class ODBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, reduction=0.0625, kernel_num=4):
        super().__init__()
        self.gct1 = GCT(inplanes)
        self.conv1 = ODConv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1,
                              reduction=reduction, kernel_num=kernel_num)
        self.bn1 = nn.BatchNorm2d(planes)
        self.gct2 = GCT(planes)
        self.conv2 = ODConv2d(planes, planes, kernel_size=3, stride=1, padding=1,
                              reduction=reduction, kernel_num=kernel_num)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(self.gct1(x))))
        out = self.bn2(self.conv2(self.gct2(out)))
        return self.relu(out + identity)


class Net(nn.Module):
    """OD-ResNet (omni-dimensional dynamic conv) with gated channel transformation."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        kernel_num = prm.get("kernel_num", 4)
        self.conv1 = nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(ODBasicBlock(32, 32, kernel_num=kernel_num))
        self.layer2 = nn.Sequential(ODBasicBlock(32, 64, 2, kernel_num=kernel_num),
                                    ODBasicBlock(64, 64, kernel_num=kernel_num))
        self.layer3 = nn.Sequential(ODBasicBlock(64, 128, 2, kernel_num=kernel_num),
                                    ODBasicBlock(128, 128, kernel_num=kernel_num))
        self.gct_out = GCT(128, mode="l2")
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(128, out_shape[0])

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.gct_out(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))
