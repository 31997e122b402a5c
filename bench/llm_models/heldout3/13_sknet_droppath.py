# undefined: SKConv, DropPath
import torch
import torch.nn as nn
import torch.nn.functional as F


class SKUnit(nn.Module):
    def __init__(self, in_features, mid_features, out_features, stride=1, groups=8, drop_path=0.0):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_features, mid_features, kernel_size=1, stride=1, bias=False),
            nn.BatchNorm2d(mid_features),
            nn.ReLU(inplace=True),
        )
        self.conv2_sk = SKConv(features=mid_features, M=2, G=groups, r=16, stride=stride, L=32)
        self.conv3 = nn.Sequential(
            nn.Conv2d(mid_features, out_features, kernel_size=1, stride=1, bias=False),
            nn.BatchNorm2d(out_features),
        )
        if stride == 1 and in_features == out_features:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_features, out_features, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_features),
            )
        self.drop_path = DropPath(drop_prob=drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        residual = self.shortcut(x)
        out = self.conv1(x)
        out = self.conv2_sk(out)
        out = self.conv3(out)
        return F.relu(residual + self.drop_path(out), inplace=True)


class Net(nn.Module):
    """Small SKNet (selective-kernel ResNeXt) with stochastic depth."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        drop_path_rate = float(prm.get("drop_path", 0.1))

        self.basic_conv = nn.Sequential(
            nn.Conv2d(in_ch, 64, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        # (mid, out, num_blocks, stride)
        cfg = [(64, 128, 2, 1), (128, 256, 2, 2), (256, 384, 2, 2)]
        total = sum(c[2] for c in cfg)
        blocks = []
        c_in = 64
        idx = 0
        for mid, out, n, s in cfg:
            for i in range(n):
                blocks.append(
                    SKUnit(c_in, mid, out, stride=s if i == 0 else 1, groups=8,
                           drop_path=drop_path_rate * idx / max(total - 1, 1))
                )
                c_in = out
                idx += 1
        self.stages = nn.Sequential(*blocks)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.basic_conv(x)
        x = self.stages(x)
        x = self.gap(x).flatten(1)
        return self.classifier(x)
