# undefined: Dynamic_conv2d, DyReLUB
import torch
import torch.nn as nn


class DyBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1, K=4, temperature=34):
        super().__init__()
        self.conv1 = Dynamic_conv2d(in_planes, planes, kernel_size=3, ratio=0.25, stride=stride, padding=1,
                                    bias=False, K=K, temperature=temperature)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = DyReLUB(planes, conv_type="2d")
        self.conv2 = Dynamic_conv2d(planes, planes, 3, ratio=0.25, padding=1, bias=False, K=K,
                                    temperature=temperature)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = DyReLUB(planes, reduction=4, k=2, conv_type="2d")
        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class Net(nn.Module):
    """Dynamic-convolution ResNet with dynamic ReLU (DY-ReLU-B) activations."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.conv1 = Dynamic_conv2d(in_shape[1], 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = DyReLUB(32, conv_type="2d")
        self.layers = nn.Sequential(
            DyBlock(32, 32),
            DyBlock(32, 64, stride=2),
            DyBlock(64, 128, stride=2),
            DyBlock(128, 128),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(128, out_shape[0])

    def update_temperature(self):
        for m in self.modules():
            if hasattr(m, "update_temperature") and m is not self:
                m.update_temperature()

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.linear(self.pool(x).flatten(1))
