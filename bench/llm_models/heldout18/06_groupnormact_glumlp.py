# undefined: GroupNormAct, GluMlp
import torch
import torch.nn as nn


class GNConvBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1, groups=8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.norm1 = GroupNormAct(out_ch, num_groups=groups, act_layer=nn.SiLU)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.norm2 = GroupNormAct(out_ch, num_groups=groups, apply_act=False)
        self.skip = nn.Identity() if (stride == 1 and in_ch == out_ch) else nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        out = self.norm2(self.conv2(self.norm1(self.conv1(x))))
        return self.act(out + self.skip(x))


class Net(nn.Module):
    """Batch-size independent CNN (GroupNorm everywhere) with a gated-MLP head."""

    def __init__(self, num_classes=10, dims=(32, 64, 128), mlp_ratio=2.0, drop_rate=0.1):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, dims[0], 3, 1, 1, bias=False),
            GroupNormAct(dims[0], num_groups=8, act_layer=nn.SiLU),
        )
        blocks = []
        in_ch = dims[0]
        for i, d in enumerate(dims):
            blocks.append(GNConvBlock(in_ch, d, stride=1 if i == 0 else 2))
            in_ch = d
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = GluMlp(
            in_features=in_ch,
            hidden_features=int(in_ch * mlp_ratio),
            out_features=num_classes,
            act_layer=nn.SiLU,
            drop=drop_rate,
        )

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = self.pool(x).flatten(1)
        return self.head(x)
