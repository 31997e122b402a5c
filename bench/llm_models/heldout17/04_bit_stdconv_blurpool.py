# undefined: StdConv2d, BlurPool2d
import torch
import torch.nn as nn


class PreActBlock(nn.Module):
    """BiT-style pre-activation block: GroupNorm + weight-standardized convs, anti-aliased downsampling."""

    def __init__(self, in_chs, out_chs, stride=1, groups=8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_chs)
        self.conv1 = StdConv2d(in_chs, out_chs, 3, stride=1, eps=1e-8)
        self.norm2 = nn.GroupNorm(groups, out_chs)
        self.conv2 = StdConv2d(out_chs, out_chs, 3, stride=1, eps=1e-8)
        self.aa = BlurPool2d(channels=out_chs, filt_size=3, stride=stride) if stride > 1 else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(
                BlurPool2d(channels=in_chs, filt_size=3, stride=stride) if stride > 1 else nn.Identity(),
                StdConv2d(in_chs, out_chs, 1, stride=1, eps=1e-8))

    def forward(self, x):
        x_preact = self.act(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(x_preact)
        x = self.conv1(x_preact)
        x = self.aa(x)
        x = self.conv2(self.act(self.norm2(x)))
        return x + shortcut


class Net(nn.Module):
    def __init__(self, num_classes=10, widths=(32, 64, 128)):
        super().__init__()
        self.stem = StdConv2d(3, widths[0], kernel_size=3, stride=1, eps=1e-8)
        stages, in_chs = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages += [PreActBlock(in_chs, w, stride), PreActBlock(w, w, 1)]
            in_chs = w
        self.stages = nn.Sequential(*stages)
        self.norm = nn.GroupNorm(8, in_chs)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Conv2d(in_chs, num_classes, kernel_size=1, bias=True)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = self.act(self.norm(x))
        x = x.mean((2, 3), keepdim=True)
        return self.head(x).flatten(1)
