# undefined: DynamicTanh, convert_ln_to_dyt
import torch
import torch.nn as nn


class ConvStem(nn.Module):
    def __init__(self, in_chans, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, dim // 2, 3, 2, 1)
        self.norm1 = DynamicTanh(dim // 2, channels_last=False)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(dim // 2, dim, 2, 2)

    def forward(self, x):
        return self.conv2(self.act(self.norm1(self.conv1(x))))


class EncoderBlockLN(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class DyTViT(nn.Module):
    """Tiny ViT where every LayerNorm is swapped for Dynamic Tanh (Transformers without Normalization)."""

    def __init__(self, in_chans=3, num_classes=10, dim=96, depth=4, num_heads=4):
        super().__init__()
        self.stem = ConvStem(in_chans, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 64, dim))
        blocks = nn.Sequential(*[EncoderBlockLN(dim, num_heads) for _ in range(depth)])
        self.blocks = convert_ln_to_dyt(blocks)
        self.norm = DynamicTanh(dim, channels_last=True, alpha_init_value=0.5)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2) + self.pos_embed
        x = self.blocks(x)
        return self.head(self.norm(x).mean(1))
