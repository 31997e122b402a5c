# undefined: RotaryEmbedding
import torch
import torch.nn as nn
import torch.nn.functional as F


class RoPEAttention(nn.Module):
    def __init__(self, dim, heads=4, rotary_dim=16):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.out = nn.Linear(dim, dim)
        # partial rotary: only the first `rotary_dim` features of each head are rotated
        self.rotary_emb = RotaryEmbedding(dim=rotary_dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = self.rotary_emb.rotate_queries_or_keys(q)
        k = self.rotary_emb.rotate_queries_or_keys(k)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out(out.transpose(1, 2).reshape(B, N, C))


class RoPEBlock(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = RoPEAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))


class RotaryViT(nn.Module):
    """ViT without absolute position embeddings; position enters via RoPE in every block."""

    def __init__(self, num_classes=10, patch=4, dim=128, depth=4, heads=4):
        super().__init__()
        self.to_patches = nn.Sequential(nn.Conv2d(3, dim, patch, patch), nn.Flatten(2))
        self.blocks = nn.Sequential(*[RoPEBlock(dim, heads, dim * 2) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, img):
        x = self.to_patches(img).transpose(1, 2)  # B, 64, dim
        x = self.norm(self.blocks(x))
        return self.fc(x.mean(dim=1))
