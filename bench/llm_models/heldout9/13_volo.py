# undefined: Outlooker, Downsample
import torch
import torch.nn as nn


class GlobalBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=3):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x):  # B, H, W, C
        B, H, W, C = x.shape
        t = x.reshape(B, H * W, C)
        h = self.norm1(t)
        t = t + self.attn(h, h, h, need_weights=False)[0]
        t = t + self.mlp(self.norm2(t))
        return t.reshape(B, H, W, C)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dims = [64, 128]
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, dims[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(dims[0]), nn.ReLU(inplace=True),
        )
        self.outlookers = nn.Sequential(*[
            Outlooker(dims[0], kernel_size=3, padding=1, num_heads=2, mlp_ratio=3.0) for _ in range(2)
        ])
        self.downsample = Downsample(dims[0], dims[1], 2)
        self.transformers = nn.Sequential(*[GlobalBlock(dims[1], 4) for _ in range(2)])
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)  # B, H, W, C
        x = self.outlookers(x)
        x = self.downsample(x)
        x = self.transformers(x)
        x = self.norm(x.flatten(1, 2))
        return self.head(x.mean(1))
