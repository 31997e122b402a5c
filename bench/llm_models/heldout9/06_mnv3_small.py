# undefined: hswish, hsigmoid, SeModule
import torch
import torch.nn as nn


class MBV3Block(nn.Module):
    def __init__(self, kernel_size, in_size, expand_size, out_size, nolinear, semodule, stride):
        super().__init__()
        self.stride = stride
        self.se = semodule
        self.conv1 = nn.Conv2d(in_size, expand_size, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(expand_size)
        self.nolinear1 = nolinear
        self.conv2 = nn.Conv2d(expand_size, expand_size, kernel_size, stride, kernel_size // 2,
                               groups=expand_size, bias=False)
        self.bn2 = nn.BatchNorm2d(expand_size)
        self.nolinear2 = nolinear
        self.conv3 = nn.Conv2d(expand_size, out_size, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_size)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_size != out_size:
            self.shortcut = nn.Sequential(nn.Conv2d(in_size, out_size, 1, bias=False), nn.BatchNorm2d(out_size))

    def forward(self, x):
        out = self.nolinear1(self.bn1(self.conv1(x)))
        out = self.nolinear2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        if self.stride == 1:
            out = out + self.shortcut(x)
        return out


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.conv1 = nn.Conv2d(in_shape[1], 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.hs1 = hswish()
        self.bneck = nn.Sequential(
            MBV3Block(3, 16, 16, 16, nn.ReLU(inplace=True), SeModule(16), 2),
            MBV3Block(3, 16, 72, 24, nn.ReLU(inplace=True), None, 2),
            MBV3Block(3, 24, 88, 24, nn.ReLU(inplace=True), None, 1),
            MBV3Block(5, 24, 96, 40, hswish(), SeModule(40), 2),
            MBV3Block(5, 40, 240, 40, hswish(), SeModule(40), 1),
            MBV3Block(5, 40, 120, 48, hswish(), SeModule(48), 1),
            MBV3Block(5, 48, 288, 96, hswish(), SeModule(96), 2),
            MBV3Block(5, 96, 576, 96, hswish(), SeModule(96), 1),
        )
        self.conv2 = nn.Conv2d(96, 576, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(576)
        self.hs2 = hswish()
        self.gate = nn.Sequential(nn.Linear(576, 576), hsigmoid())
        self.linear3 = nn.Linear(576, 1024)
        self.hs3 = hswish()
        self.linear4 = nn.Linear(1024, out_shape[0])

    def forward(self, x):
        out = self.hs1(self.bn1(self.conv1(x)))
        out = self.bneck(out)
        out = self.hs2(self.bn2(self.conv2(out)))
        out = nn.functional.adaptive_avg_pool2d(out, 1).flatten(1)
        out = out * self.gate(out)
        out = self.hs3(self.linear3(out))
        return self.linear4(out)
