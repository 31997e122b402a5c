# undefined: Conv2d_BN, Subsample
import torch
import torch.nn as nn


class TokenBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.Hardswish(), nn.Linear(dim * mlp_ratio, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.patch_embed = nn.Sequential(
            Conv2d_BN(in_shape[1], 32, 3, 2, 1),
            nn.Hardswish(),
            Conv2d_BN(32, 64, 3, 2, 1),
        )
        resolution = in_shape[2] // 4  # 8
        self.stage1 = nn.Sequential(TokenBlock(64, 4), TokenBlock(64, 4))
        self.subsample = Subsample(2, resolution)
        self.expand = nn.Linear(64, 128)
        self.stage2 = nn.Sequential(TokenBlock(128, 4), TokenBlock(128, 4))
        self.head = nn.Sequential(nn.BatchNorm1d(128), nn.Linear(128, out_shape[0]))

    def forward(self, x):
        x = self.patch_embed(x)
        x = x.flatten(2).transpose(1, 2)
        x = self.stage1(x)
        x = self.subsample(x)
        x = self.expand(x)
        x = self.stage2(x)
        return self.head(x.mean(1))
