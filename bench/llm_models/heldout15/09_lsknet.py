# undefined: LSKblock
import torch
import torch.nn as nn
import torch.nn.functional as F


class LSKAttentionUnit(nn.Module):
    """proj -> GELU -> large selective kernel -> proj, with a shortcut (LSKNet 'Attention')."""

    def __init__(self, d_model):
        super().__init__()
        self.proj_1 = nn.Conv2d(d_model, d_model, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = LSKblock(d_model)
        self.proj_2 = nn.Conv2d(d_model, d_model, 1)

    def forward(self, x):
        shortcut = x.clone()
        x = self.proj_1(x)
        x = self.activation(x)
        x = self.spatial_gating_unit(x)
        x = self.proj_2(x)
        return x + shortcut


class LSKStage(nn.Module):
    def __init__(self, dim, mlp_ratio=4.0, drop=0.0, ls_init=1e-2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = LSKAttentionUnit(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Conv2d(hidden, dim, 1),
            nn.Dropout(drop),
        )
        self.layer_scale_1 = nn.Parameter(ls_init * torch.ones(dim), requires_grad=True)
        self.layer_scale_2 = nn.Parameter(ls_init * torch.ones(dim), requires_grad=True)

    def forward(self, x):
        x = x + self.layer_scale_1.unsqueeze(-1).unsqueeze(-1) * self.attn(self.norm1(x))
        x = x + self.layer_scale_2.unsqueeze(-1).unsqueeze(-1) * self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, num_classes=10, embed_dims=(32, 64, 128), depths=(1, 1, 2), drop=0.1):
        super().__init__()
        layers = []
        in_ch = 3
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            k, s = (3, 1) if i == 0 else (3, 2)
            layers.append(nn.Sequential(
                nn.Conv2d(in_ch, dim, kernel_size=k, stride=s, padding=k // 2),
                nn.BatchNorm2d(dim),
            ))
            for _ in range(depth):
                layers.append(LSKStage(dim, mlp_ratio=4.0 if i < 2 else 2.0, drop=drop))
            in_ch = dim
        self.backbone = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes)

    def forward(self, x):
        x = self.backbone(x)  # 32 -> 16 -> 8
        x = x.flatten(2).mean(-1)
        return self.head(self.norm(x))
