# undefined: window_partition, window_reverse, to_2tuple
import torch
import torch.nn as nn
import torch.nn.functional as F


class WindowAttention(nn.Module):
    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.window_size = to_2tuple(window_size)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
        return self.proj(x)


class SwinBlock(nn.Module):
    def __init__(self, dim, num_heads, window_size=4, mlp_ratio=4.0):
        super().__init__()
        self.window_size = to_2tuple(window_size)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        # x: (B, H, W, C)
        B, H, W, C = x.shape
        shortcut = x
        x = self.norm1(x)
        x_windows = window_partition(x, self.window_size)
        x_windows = x_windows.view(-1, self.window_size[0] * self.window_size[1], C)
        attn_windows = self.attn(x_windows)
        attn_windows = attn_windows.view(-1, self.window_size[0], self.window_size[1], C)
        x = window_reverse(attn_windows, self.window_size, H, W)
        x = shortcut + x
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        embed_dim = 96
        self.patch_embed = nn.Conv2d(in_shape[1], embed_dim, kernel_size=4, stride=4)  # 8x8
        self.norm0 = nn.LayerNorm(embed_dim)
        self.stage1 = nn.Sequential(SwinBlock(embed_dim, 3, 4), SwinBlock(embed_dim, 3, 4))
        self.merge_norm = nn.LayerNorm(4 * embed_dim)
        self.reduction = nn.Linear(4 * embed_dim, 2 * embed_dim, bias=False)  # 4x4
        self.stage2 = nn.Sequential(SwinBlock(2 * embed_dim, 6, 4), SwinBlock(2 * embed_dim, 6, 4))
        self.norm = nn.LayerNorm(2 * embed_dim)
        self.drop = nn.Dropout(prm.get('dropout', 0.1))
        self.head = nn.Linear(2 * embed_dim, out_shape[0])

    def patch_merging(self, x):
        B, H, W, C = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.merge_norm(x))

    def forward(self, x):
        x = self.patch_embed(x).permute(0, 2, 3, 1)
        x = self.norm0(x)
        x = self.stage1(x)
        x = self.patch_merging(x)
        x = self.stage2(x)
        x = self.norm(x).mean(dim=(1, 2))
        return self.head(self.drop(x))
