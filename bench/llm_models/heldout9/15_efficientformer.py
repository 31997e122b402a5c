# undefined: stem, Meta4D, Flat
import torch
import torch.nn as nn


class Meta3DBlock(nn.Module):
    def __init__(self, dim, heads=4, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dims = [48, 96]
        self.patch_embed = stem(in_shape[1], dims[0])  # /4 -> 8x8
        self.stage1 = nn.Sequential(*[Meta4D(dims[0], pool_size=3, mlp_ratio=4.0) for _ in range(2)])
        self.down = nn.Sequential(nn.Conv2d(dims[0], dims[1], 3, stride=2, padding=1), nn.BatchNorm2d(dims[1]))
        self.stage2 = nn.Sequential(*[Meta4D(dims[1], pool_size=3, mlp_ratio=4.0) for _ in range(2)])
        self.flat = Flat()
        self.stage3 = nn.Sequential(Meta3DBlock(dims[1]), Meta3DBlock(dims[1]))
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.stage1(x)
        x = self.down(x)
        x = self.stage2(x)
        x = self.flat(x)  # B, N, C
        x = self.stage3(x)
        x = self.norm(x)
        return self.head(x.mean(1))
