# undefined: FocalModulation
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNormChannels(nn.Module):
    """LayerNorm over the channel dim of an NCHW tensor."""

    def __init__(self, num_channels, eps=1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(num_channels, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FocalBlock(nn.Module):
    def __init__(self, dim, focal_level=2, focal_window=3, mlp_ratio=3.0, drop=0.0, ls_init=1e-4):
        super().__init__()
        self.norm1 = LayerNormChannels(dim)
        self.modulation = FocalModulation(
            dim,
            focal_window=focal_window,
            focal_level=focal_level,
            proj_drop=drop,
            norm_layer=LayerNormChannels,
        )
        self.norm2 = LayerNormChannels(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Conv2d(hidden, dim, 1),
        )
        self.gamma1 = nn.Parameter(ls_init * torch.ones(dim, 1, 1))
        self.gamma2 = nn.Parameter(ls_init * torch.ones(dim, 1, 1))

    def forward(self, x):
        x = x + self.gamma1 * self.modulation(self.norm1(x))
        x = x + self.gamma2 * self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    """A very small FocalNet for 32x32 inputs (patch 2 stem, 3 stages)."""

    def __init__(self, num_classes=10, dims=(40, 80, 160), depths=(1, 2, 1)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, dims[0], kernel_size=2, stride=2),
            LayerNormChannels(dims[0]),
        )
        stages = []
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i > 0:
                stages.append(nn.Sequential(
                    LayerNormChannels(dims[i - 1]),
                    nn.Conv2d(dims[i - 1], d, kernel_size=2, stride=2),
                ))
            for _ in range(n):
                stages.append(FocalBlock(d, focal_level=2 if i < 2 else 1, focal_window=3))
        self.features = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.features(self.stem(x))
        x = x.mean(dim=(2, 3))
        return self.head(self.norm(x))
