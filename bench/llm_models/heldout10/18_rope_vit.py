# undefined: rotate_half, apply_rotary_pos_emb
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def build_axis_freqs(length, dim, base=100.0):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
    t = torch.arange(length).float()
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # (L, dim)
    return emb.cos(), emb.sin()


class RoPEAttention(nn.Module):
    """Multi-head self-attention with 2D axial rotary embeddings (rows on first half of head dim)."""

    def __init__(self, dim, num_heads, grid):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        half = self.head_dim // 2
        cos_h, sin_h = build_axis_freqs(grid, half)
        cos_w, sin_w = build_axis_freqs(grid, half)
        rows = torch.arange(grid).repeat_interleave(grid)
        cols = torch.arange(grid).repeat(grid)
        self.register_buffer("cos_h", cos_h[rows][None], persistent=False)  # (1, N, half)
        self.register_buffer("sin_h", sin_h[rows][None], persistent=False)
        self.register_buffer("cos_w", cos_w[cols][None, None], persistent=False)  # (1, 1, N, half)
        self.register_buffer("sin_w", sin_w[cols][None, None], persistent=False)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, D)
        half = self.head_dim // 2
        q1, q2 = q[..., :half], q[..., half:]
        k1, k2 = k[..., :half], k[..., half:]
        q1, k1 = apply_rotary_pos_emb(q1, k1, self.cos_h, self.sin_h)
        q2 = q2 * self.cos_w + rotate_half(q2) * self.sin_w
        k2 = k2 * self.cos_w + rotate_half(k2) * self.sin_w
        q = torch.cat([q1, q2], dim=-1)
        k = torch.cat([k1, k2], dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim, num_heads, grid, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RoPEAttention(dim, num_heads, grid)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dim, heads, depth, patch = 128, 4, 4, 4
        self.grid = in_shape[2] // patch
        self.patch_embed = nn.Conv2d(in_shape[1], dim, patch, patch)
        self.blocks = nn.ModuleList([Block(dim, heads, self.grid) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(prm.get("dropout", 0.1))
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, C)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x).mean(1)
        return self.head(self.drop(x))
