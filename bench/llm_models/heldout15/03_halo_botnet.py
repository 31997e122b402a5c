# undefined: HaloAttn, BottleneckAttn
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNAct(nn.Sequential):
    def __init__(self, in_ch, out_ch, k=3, s=1, act=True):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, k, s, k // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.SiLU(inplace=True) if act else nn.Identity(),
        )


class AttnBottleneck(nn.Module):
    """ResNet bottleneck whose 3x3 conv is replaced by a self-attention layer
    (HaloNet / BoTNet style)."""

    def __init__(self, in_ch, out_ch, attn_layer, bottle_ratio=0.5):
        super().__init__()
        mid = int(out_ch * bottle_ratio)
        self.conv1 = ConvBNAct(in_ch, mid, k=1)
        self.attn = attn_layer(mid)
        self.post_attn = nn.Sequential(nn.BatchNorm2d(mid), nn.SiLU(inplace=True))
        self.conv3 = ConvBNAct(mid, out_ch, k=1, act=False)
        self.shortcut = nn.Identity() if in_ch == out_ch else ConvBNAct(in_ch, out_ch, k=1, act=False)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        shortcut = self.shortcut(x)
        x = self.conv1(x)
        x = self.post_attn(self.attn(x))
        x = self.conv3(x)
        return self.act(x + shortcut)


class Net(nn.Module):
    def __init__(self, num_classes=10, widths=(32, 64, 128)):
        super().__init__()
        c1, c2, c3 = widths
        self.stem = nn.Sequential(ConvBNAct(3, c1, 3, 1), ConvBNAct(c1, c1, 3, 2))  # 16x16

        # stage 1: local halo attention on 16x16 (8x8 blocks with a halo of 2)
        self.stage1 = nn.Sequential(
            AttnBottleneck(c1, c2, lambda d: HaloAttn(d, d, num_heads=4, block_size=8, halo_size=2, qkv_bias=False)),
            AttnBottleneck(c2, c2, lambda d: HaloAttn(d, d, num_heads=4, block_size=8, halo_size=2)),
        )
        self.down = ConvBNAct(c2, c2, 3, 2)  # 8x8

        # stage 2: global MHSA with 2D relative position logits (BoTNet)
        self.stage2 = nn.Sequential(
            AttnBottleneck(c2, c3, lambda d: BottleneckAttn(d, d, feat_size=(8, 8), num_heads=4)),
            AttnBottleneck(c3, c3, lambda d: BottleneckAttn(d, d, feat_size=(8, 8), num_heads=4)),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(c3, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.down(x)
        x = self.stage2(x)
        return self.head(x)
