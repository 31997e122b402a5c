# undefined: AttentionModule
import torch
import torch.nn as nn
import torch.nn.functional as F


class MSCASpatialAttention(nn.Module):
    """1x1 -> GELU -> multi-scale conv attention -> 1x1, plus shortcut (MSCAN)."""

    def __init__(self, d_model):
        super().__init__()
        self.proj_1 = nn.Conv2d(d_model, d_model, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = AttentionModule(d_model)
        self.proj_2 = nn.Conv2d(d_model, d_model, 1)

    def forward(self, x):
        shortcut = x
        x = self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))
        return x + shortcut


class MSCABlock(nn.Module):
    def __init__(self, dim, mlp_ratio=4.0, drop=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = MSCASpatialAttention(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
            nn.GELU(),
            nn.Conv2d(hidden, dim, 1),
            nn.Dropout(drop),
        )
        self.ls1 = nn.Parameter(1e-2 * torch.ones(dim, 1, 1))
        self.ls2 = nn.Parameter(1e-2 * torch.ones(dim, 1, 1))

    def forward(self, x):
        x = x + self.ls1 * self.attn(self.norm1(x))
        x = x + self.ls2 * self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    """MSCAN-Tiny-like encoder (SegNeXt) adapted to 32x32 classification."""

    def __init__(self, num_classes=10, dims=(24, 48, 96, 160), depths=(1, 1, 2, 1)):
        super().__init__()
        # stem: two stride-2 convs would be too aggressive for 32x32, use one
        self.stem = nn.Sequential(
            nn.Conv2d(3, dims[0] // 2, 3, 1, 1),
            nn.BatchNorm2d(dims[0] // 2),
            nn.GELU(),
            nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1),
            nn.BatchNorm2d(dims[0]),
        )  # 16x16
        self.stages = nn.ModuleList()
        for i in range(len(dims)):
            down = nn.Identity() if i == 0 else nn.Sequential(
                nn.Conv2d(dims[i - 1], dims[i], 3, 2 if i < 3 else 1, 1), nn.BatchNorm2d(dims[i])
            )
            blocks = [MSCABlock(dims[i], mlp_ratio=8.0 if i < 2 else 4.0) for _ in range(depths[i])]
            self.stages.append(nn.Sequential(down, *blocks))
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        x = x.mean(dim=[2, 3])
        return self.head(self.norm(x))
