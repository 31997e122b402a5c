# undefined: GlobalFilter, PositionalEncodingFourier
import math
import torch
import torch.nn as nn


class GFLayer(nn.Module):
    def __init__(self, dim, h, w, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.filter = GlobalFilter(dim, h=h, w=w)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, hw):
        return x + self.mlp(self.norm2(self.filter(self.norm1(x), spatial_size=hw)))


class Net(nn.Module):
    """GFNet-H style two-stage global filter network with XCiT Fourier positional encoding."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (64, 128)
        self.patch_embed = nn.Conv2d(in_shape[1], dims[0], kernel_size=4, stride=4)  # 8x8
        self.pos_embed = PositionalEncodingFourier(hidden_dim=32, dim=dims[0])
        g0 = in_shape[2] // 4
        self.stage1 = nn.ModuleList([GFLayer(dims[0], h=g0, w=g0 // 2 + 1) for _ in range(2)])
        self.down = nn.Conv2d(dims[0], dims[1], kernel_size=2, stride=2)  # 4x4
        g1 = g0 // 2
        self.stage2 = nn.ModuleList([GFLayer(dims[1], h=g1, w=g1 // 2 + 1) for _ in range(2)])
        self.norm = nn.LayerNorm(dims[1], eps=1e-6)
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x)
        B, C, H, W = x.shape
        x = x.flatten(2).transpose(1, 2)
        pos = self.pos_embed(B, H, W).reshape(B, -1, x.shape[1]).permute(0, 2, 1)
        x = x + pos
        for blk in self.stage1:
            x = blk(x, (H, W))
        x = x.transpose(1, 2).reshape(B, C, H, W)
        x = self.down(x)
        B, C, H, W = x.shape
        x = x.flatten(2).transpose(1, 2)
        for blk in self.stage2:
            x = blk(x, (H, W))
        x = self.norm(x).mean(1)
        return self.head(x)
