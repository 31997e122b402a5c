# undefined: WindowAttention, window_partition, window_reverse
import torch
import torch.nn as nn
import torch.nn.functional as F


class SwinBlock(nn.Module):
    def __init__(self, dim, input_resolution, num_heads, window_size=4, mlp_ratio=2.0, drop=0.0):
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size=(window_size, window_size), num_heads=num_heads,
                                    qkv_bias=True, attn_drop=drop, proj_drop=drop)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim))

    def forward(self, x):
        H, W = self.input_resolution
        B, L, C = x.shape
        shortcut = x
        x = self.norm1(x).view(B, H, W, C)
        windows = window_partition(x, self.window_size)
        windows = windows.view(-1, self.window_size * self.window_size, C)
        attn_windows = self.attn(windows, mask=None)
        attn_windows = attn_windows.view(-1, self.window_size, self.window_size, C)
        x = window_reverse(attn_windows, self.window_size, H, W)
        x = shortcut + x.reshape(B, H * W, C)
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        img = in_shape[2]
        drop = float(prm.get("dropout", 0.0))
        dims = (64, 128)
        heads = (2, 4)
        self.res1 = img // 2
        self.res2 = self.res1 // 2

        self.patch_embed = nn.Conv2d(in_ch, dims[0], kernel_size=2, stride=2)
        self.pos_drop = nn.Dropout(drop)
        self.stage1 = nn.ModuleList([SwinBlock(dims[0], (self.res1, self.res1), heads[0], 4, drop=drop) for _ in range(2)])
        self.merge_norm = nn.LayerNorm(4 * dims[0])
        self.merge = nn.Linear(4 * dims[0], dims[1], bias=False)
        self.stage2 = nn.ModuleList([SwinBlock(dims[1], (self.res2, self.res2), heads[1], 4, drop=drop) for _ in range(2)])
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], num_classes)
        self.to(device)

    def patch_merging(self, x, H, W):
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1).view(B, -1, 4 * C)
        return self.merge(self.merge_norm(x))

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.pos_drop(x)
        for blk in self.stage1:
            x = blk(x)
        x = self.patch_merging(x, self.res1, self.res1)
        for blk in self.stage2:
            x = blk(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)
