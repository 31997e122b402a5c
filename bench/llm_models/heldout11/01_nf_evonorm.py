# undefined: ScaledStdConv2d, EvoNorm2dS0
import torch
import torch.nn as nn


class EvoResBlock(nn.Module):
    """Pre-activation-free residual block: scaled WS conv + EvoNorm-S0 (NFNet / timm style)."""

    def __init__(self, in_chs, out_chs, stride=1, groups=8, alpha=0.2):
        super().__init__()
        self.alpha = alpha
        self.conv1 = ScaledStdConv2d(in_chs, out_chs, kernel_size=3, stride=stride, gamma=1.0)
        self.norm1 = EvoNorm2dS0(out_chs, groups=groups)
        self.conv2 = ScaledStdConv2d(out_chs, out_chs, kernel_size=3, padding=1)
        self.norm2 = EvoNorm2dS0(out_chs, groups=groups, apply_act=False)
        self.shortcut = None
        if stride != 1 or in_chs != out_chs:
            self.shortcut = ScaledStdConv2d(in_chs, out_chs, 1, stride=stride)

    def forward(self, x):
        shortcut = x if self.shortcut is None else self.shortcut(x)
        out = self.norm1(self.conv1(x))
        out = self.norm2(self.conv2(out))
        return shortcut + self.alpha * out


class Net(nn.Module):
    """Small NF/EvoNorm ResNet for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        widths = (32, 64, 128, 256)
        self.stem = nn.Sequential(
            ScaledStdConv2d(in_shape[1], widths[0], kernel_size=3, stride=1, padding=1),
            EvoNorm2dS0(widths[0], groups=8),
        )
        layers = []
        in_chs = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(EvoResBlock(in_chs, w, stride=stride))
            layers.append(EvoResBlock(w, w, stride=1))
            in_chs = w
        self.stages = nn.Sequential(*layers)
        self.final_norm = EvoNorm2dS0(in_chs, group_size=16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(prm.get("dropout", 0.0))
        self.fc = nn.Linear(in_chs, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.final_norm(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.drop(x))
