# undefined: c2_msra_fill, c2_xavier_fill
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicStem(nn.Module):
    def __init__(self, in_channels=3, out_channels=32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        c2_msra_fill(self.conv1)

    def forward(self, x):
        return F.relu_(self.norm(self.conv1(x)))


class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        for layer in [self.conv1, self.conv2] + ([self.shortcut[0]] if self.shortcut is not None else []):
            c2_msra_fill(layer)

    def forward(self, x):
        out = F.relu_(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out + sc)


class Net(nn.Module):
    """Detectron2-flavoured ResNet + tiny FPN, pooled multi-level features -> classifier."""

    def __init__(self, num_classes=10, fpn_dim=64, channels=(32, 64, 128)):
        super().__init__()
        self.stem = BasicStem(3, channels[0])
        self.res2 = ResBlock(channels[0], channels[0], 1)
        self.res3 = ResBlock(channels[0], channels[1], 2)
        self.res4 = ResBlock(channels[1], channels[2], 2)
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for c in channels:
            lateral = nn.Conv2d(c, fpn_dim, kernel_size=1)
            output = nn.Conv2d(fpn_dim, fpn_dim, kernel_size=3, padding=1)
            c2_xavier_fill(lateral)
            c2_xavier_fill(output)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)
        self.cls_score = nn.Linear(fpn_dim * len(channels), num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.constant_(self.cls_score.bias, 0)

    def forward(self, x):
        x = self.stem(x)
        c2 = self.res2(x)
        c3 = self.res3(c2)
        c4 = self.res4(c3)
        feats = [c2, c3, c4]
        prev = self.lateral_convs[-1](feats[-1])
        outs = [self.output_convs[-1](prev)]
        for i in range(len(feats) - 2, -1, -1):
            top_down = F.interpolate(prev, scale_factor=2.0, mode="nearest")
            prev = self.lateral_convs[i](feats[i]) + top_down
            outs.insert(0, self.output_convs[i](prev))
        pooled = [F.adaptive_avg_pool2d(o, 1).flatten(1) for o in outs]
        return self.cls_score(torch.cat(pooled, dim=1))
