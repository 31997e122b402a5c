# undefined: CbamModule, CecaModule
import torch
import torch.nn as nn


class ConvBnAct2d(nn.Sequential):
    def __init__(self, in_ch, out_ch, k=3, stride=1):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, k, stride, k // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class AttnBasicBlock(nn.Module):
    """ResNet basic block with a pluggable attention module after conv2 (timm-style attn_layer)."""

    def __init__(self, in_ch, out_ch, stride=1, attn="ceca"):
        super().__init__()
        self.conv1 = ConvBnAct2d(in_ch, out_ch, 3, stride)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        if attn == "cbam":
            self.attn = CbamModule(out_ch, rd_ratio=1. / 8, spatial_kernel_size=7)
        else:
            self.attn = CecaModule(channels=out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.conv1(x)
        x = self.bn2(self.conv2(x))
        x = self.attn(x)
        return self.act(x + shortcut)


class SearchedAttnResNet(nn.Module):
    # genotype found by the controller: attention type per stage
    GENOTYPE = [("ceca", 32, 1), ("ceca", 64, 2), ("cbam", 128, 2)]

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = ConvBnAct2d(3, 32, 3, 1)
        layers, in_ch = [], 32
        for attn, ch, stride in self.GENOTYPE:
            layers.append(AttnBasicBlock(in_ch, ch, stride, attn))
            layers.append(AttnBasicBlock(ch, ch, 1, attn))
            in_ch = ch
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))
