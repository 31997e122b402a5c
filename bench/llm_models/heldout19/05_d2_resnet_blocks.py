# undefined: Conv2d, get_norm
import torch
import torch.nn as nn
import torch.nn.functional as F


class StemBlock(nn.Module):
    """detectron2-style stem: a single 3x3 conv with norm (no max-pool for CIFAR)."""

    def __init__(self, in_channels=3, out_channels=32, norm="BN"):
        super().__init__()
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )

    def forward(self, x):
        return F.relu_(self.conv1(x))


class ResBasicBlock(nn.Module):
    """Residual basic block written the way detectron2's BasicBlock is, using the
    Conv2d wrapper that fuses the norm layer into the conv module."""

    def __init__(self, in_channels, out_channels, *, stride=1, norm="BN"):
        super().__init__()
        if in_channels != out_channels or stride != 1:
            self.shortcut = Conv2d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=stride,
                bias=False,
                norm=get_norm(norm, out_channels),
            )
        else:
            self.shortcut = None

        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        self.conv2 = Conv2d(
            out_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        for layer in [self.conv1, self.conv2, self.shortcut]:
            if layer is not None:
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        out = self.conv1(x)
        out = F.relu_(out)
        out = self.conv2(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        out += shortcut
        return F.relu_(out)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        norm = prm.get("norm", "BN")
        num_classes = out_shape[0]
        self.stem = StemBlock(in_shape[1], 32, norm=norm)
        stages = []
        in_ch = 32
        for i, out_ch in enumerate((32, 64, 128)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(
                ResBasicBlock(in_ch, out_ch, stride=stride, norm=norm),
                ResBasicBlock(out_ch, out_ch, stride=1, norm=norm),
            ))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.linear = nn.Linear(in_ch, num_classes)
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.constant_(self.linear.bias, 0)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.linear(x)
