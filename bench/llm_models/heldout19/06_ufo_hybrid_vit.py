# undefined: UFOAttention
import torch
import torch.nn as nn


class UFOTransformerBlock(nn.Module):
    """Pre-norm transformer block whose token mixer is the linear-complexity
    UFO attention (UFO-ViT) from External-Attention-pytorch."""

    def __init__(self, dim, heads=4, mlp_ratio=2.0, dropout=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = UFOAttention(d_model=dim, d_k=dim // heads, d_v=dim // heads, h=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y)
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dim = prm.get("dim", 96)
        depth = prm.get("depth", 3)
        heads = prm.get("heads", 4)
        num_classes = out_shape[0]

        # convolutional tokenizer: 32x32 -> 8x8 tokens
        self.tokenizer = nn.Sequential(
            nn.Conv2d(in_shape[1], dim // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim // 2),
            nn.GELU(),
            nn.Conv2d(dim // 2, dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim),
            nn.GELU(),
        )
        num_tokens = (in_shape[2] // 4) * (in_shape[3] // 4)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList([UFOTransformerBlock(dim, heads=heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.tokenizer(x)               # B, C, H, W
        x = x.flatten(2).transpose(1, 2)    # B, N, C
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)
