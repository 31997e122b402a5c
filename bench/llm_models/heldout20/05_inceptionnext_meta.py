# undefined: MetaNeXtBlock
import torch
import torch.nn as nn


class BandDWMixer(nn.Module):
    """Token mixer: square + horizontal/vertical band depthwise convs (InceptionNeXt flavour)."""

    def __init__(self, dim, square_kernel_size=3, band_kernel_size=7):
        super().__init__()
        self.dw_hw = nn.Conv2d(dim, dim, square_kernel_size, padding=square_kernel_size // 2, groups=dim)
        self.dw_w = nn.Conv2d(dim, dim, (1, band_kernel_size), padding=(0, band_kernel_size // 2), groups=dim)
        self.dw_h = nn.Conv2d(dim, dim, (band_kernel_size, 1), padding=(band_kernel_size // 2, 0), groups=dim)

    def forward(self, x):
        return self.dw_hw(x) + self.dw_w(x) + self.dw_h(x)


class TinyMetaNeXt(nn.Module):
    def __init__(self, in_chans=3, num_classes=10, dims=(48, 96, 160), depths=(2, 2, 2),
                 mlp_ratios=(4, 4, 3), drop_path_rate=0.05):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, dims[0], kernel_size=2, stride=2),
            nn.BatchNorm2d(dims[0]),
        )
        dp_rates = [x.tolist() for x in torch.linspace(0, drop_path_rate, sum(depths)).split(depths)]
        stages = []
        prev = dims[0]
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            down = nn.Identity() if i == 0 else nn.Sequential(
                nn.BatchNorm2d(prev), nn.Conv2d(prev, dim, kernel_size=2, stride=2))
            blocks = [MetaNeXtBlock(
                dim=dim,
                token_mixer=BandDWMixer,
                norm_layer=nn.BatchNorm2d,
                mlp_ratio=mlp_ratios[i],
                act_layer=nn.GELU,
                ls_init_value=1e-6,
                drop_path=dp_rates[i][j],
            ) for j in range(depth)]
            stages.append(nn.Sequential(down, *blocks))
            prev = dim
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(prev, eps=1e-6)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = x.mean((2, 3))
        return self.head(self.norm(x))
