# undefined: ShiftedWindowAttention, MLP
import torch
import torch.nn as nn


class SwinLayer(nn.Module):
    """torchvision-style SwinTransformerBlock, input in NHWC."""

    def __init__(self, dim, num_heads, window_size, shift_size, mlp_ratio=4.0, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = ShiftedWindowAttention(
            dim,
            window_size,
            shift_size,
            num_heads,
            attention_dropout=0.0,
            dropout=dropout,
        )
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = MLP(dim, [int(dim * mlp_ratio), dim], activation_layer=nn.GELU, inplace=None, dropout=dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class TokenMerge(nn.Module):
    """2x2 neighbour merge in NHWC (halves H, W; doubles C)."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], dim=-1)
        return self.reduction(self.norm(x))


class Net(nn.Module):
    """Tiny Swin (torchvision swin_t layout) for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        embed_dim = 48
        window_size = [4, 4]
        depths = (2, 2)
        heads = (3, 6)
        self.patch = nn.Conv2d(in_shape[1], embed_dim, kernel_size=4, stride=4)
        self.patch_norm = nn.LayerNorm(embed_dim)
        stages = []
        dim = embed_dim
        for i, (depth, nh) in enumerate(zip(depths, heads)):
            blocks = []
            for j in range(depth):
                shift = [0 if j % 2 == 0 else w // 2 for w in window_size]
                blocks.append(SwinLayer(dim, nh, window_size, shift, dropout=prm.get("dropout", 0.0)))
            stages.append(nn.Sequential(*blocks))
            if i < len(depths) - 1:
                stages.append(TokenMerge(dim))
                dim *= 2
        self.features = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)  # B, H, W, C
        x = self.patch_norm(x)
        x = self.features(x)
        x = self.norm(x)
        x = x.mean(dim=(1, 2))
        return self.head(x)
