# undefined: SplitAttn
import torch
import torch.nn as nn


class ResNestBottleneck(nn.Module):
    expansion = 2

    def __init__(self, in_ch, planes, stride=1, radix=2, cardinality=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.)) * cardinality
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        # split-attention 3x3 conv (radix-2, ResNeSt style); stride handled by avd pool
        self.conv2 = SplitAttn(
            width, width, kernel_size=3, stride=1, padding=1, groups=cardinality,
            radix=radix, rd_ratio=0.25, act_layer=nn.ReLU, norm_layer=nn.BatchNorm2d)
        self.avd_last = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity(),
                nn.Conv2d(in_ch, out_ch, 1, bias=False),
                nn.BatchNorm2d(out_ch))
        self.act3 = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out = self.avd_last(out)
        out = self.bn3(self.conv3(out))
        return self.act3(out + shortcut)


class Net(nn.Module):
    def __init__(self, num_classes=10, stem_width=16, radix=2):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, stem_width * 2, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_width * 2), nn.ReLU(inplace=True))
        cfg = [(32, 1), (64, 2), (96, 2)]
        blocks, in_ch = [], stem_width * 2
        for planes, stride in cfg:
            blocks.append(ResNestBottleneck(in_ch, planes, stride, radix=radix))
            in_ch = planes * ResNestBottleneck.expansion
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = self.pool(x).flatten(1)
        return self.fc(self.drop(x))
