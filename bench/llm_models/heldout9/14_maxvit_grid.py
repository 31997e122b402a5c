# undefined: grid_partition, grid_reverse
import torch
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(dim),
            nn.Conv2d(dim, dim * 4, 1), nn.GELU(),
            nn.Conv2d(dim * 4, dim * 4, 3, padding=1, groups=dim * 4), nn.GELU(),
            nn.Conv2d(dim * 4, dim, 1),
        )

    def forward(self, x):
        return x + self.body(x)


class GridAttentionBlock(nn.Module):
    def __init__(self, dim, heads, grid_size):
        super().__init__()
        self.grid_size = (grid_size, grid_size)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x):  # B, C, H, W
        B, C, H, W = x.shape
        x = x.permute(0, 2, 3, 1)  # NHWC
        windows = grid_partition(self.norm1(x), self.grid_size)  # B*nW, gh, gw, C
        t = windows.reshape(-1, self.grid_size[0] * self.grid_size[1], C)
        t = self.attn(t, t, t, need_weights=False)[0]
        t = t.view(-1, self.grid_size[0], self.grid_size[1], C)
        x = x + grid_reverse(t, self.grid_size, (H, W))
        x = x + self.mlp(self.norm2(x))
        return x.permute(0, 3, 1, 2)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dims = [64, 128]
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], dims[0], 3, stride=2, padding=1), nn.BatchNorm2d(dims[0]),
                                  nn.GELU())
        self.stage1 = nn.Sequential(ConvBlock(dims[0]), GridAttentionBlock(dims[0], 2, 4))
        self.down = nn.Conv2d(dims[0], dims[1], 2, stride=2)
        self.stage2 = nn.Sequential(ConvBlock(dims[1]), GridAttentionBlock(dims[1], 4, 4),
                                    ConvBlock(dims[1]), GridAttentionBlock(dims[1], 4, 4))
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.down(x)
        x = self.stage2(x)
        x = self.norm(x.mean(dim=(2, 3)))
        return self.head(x)
