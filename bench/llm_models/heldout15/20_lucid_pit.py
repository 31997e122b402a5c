# undefined: exists, cast_tuple, Rearrange
import torch
import torch.nn as nn
import torch.nn.functional as F


class FeedForward2(nn.Module):
    def __init__(self, dim, hidden_dim, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads=4, dim_head=32, dropout=0.0):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))
        self.split_heads = Rearrange("b n (h d) -> b h n d", h=heads)
        self.merge_heads = Rearrange("b h n d -> b n (h d)")

    def forward(self, x):
        x = self.norm(x)
        q, k, v = map(self.split_heads, self.to_qkv(x).chunk(3, dim=-1))
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        return self.to_out(self.merge_heads(attn @ v))


class TokenPool(nn.Module):
    """PiT-style pooling: depthwise strided conv on the spatial tokens,
    linear projection on the cls token."""

    def __init__(self, dim, dim_out):
        super().__init__()
        self.cls_ff = nn.Linear(dim, dim_out)
        self.conv = nn.Conv2d(dim, dim_out, 3, stride=2, padding=1, groups=dim)

    def forward(self, x):
        cls_token, tokens = x[:, :1], x[:, 1:]
        side = int(tokens.shape[1] ** 0.5)
        tokens = tokens.transpose(1, 2).reshape(x.shape[0], -1, side, side)
        tokens = self.conv(tokens).flatten(2).transpose(1, 2)
        return torch.cat((self.cls_ff(cls_token), tokens), dim=1)


class Net(nn.Module):
    def __init__(self, num_classes=10, patch_size=4, dim=64, depth=(1, 2, 1), heads=2, dim_head=32,
                 mlp_mult=2, dropout=0.1, emb_dropout=0.1, pool_tokens=True):
        super().__init__()
        num_stages = len(depth)
        depths = cast_tuple(depth, num_stages)
        heads = cast_tuple(heads, num_stages)
        patch_dim = 3 * patch_size ** 2
        num_patches = (32 // patch_size) ** 2

        self.to_patch_embedding = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
            nn.LayerNorm(patch_dim),
            nn.Linear(patch_dim, dim),
            nn.LayerNorm(dim),
        )
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.dropout = nn.Dropout(emb_dropout)

        self.layers = nn.ModuleList()
        for ind, (layer_depth, layer_heads) in enumerate(zip(depths, heads)):
            not_last = ind < (num_stages - 1)
            for _ in range(layer_depth):
                self.layers.append(nn.ModuleList([
                    SelfAttention(dim, heads=layer_heads * (ind + 1), dim_head=dim_head, dropout=dropout),
                    FeedForward2(dim, dim * mlp_mult, dropout),
                ]))
            if not_last and pool_tokens:
                self.layers.append(TokenPool(dim, dim * 2))
                dim *= 2

        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, img, mask=None):
        x = self.to_patch_embedding(img)
        b, n, _ = x.shape
        cls_tokens = self.cls_token.expand(b, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embedding[:, : n + 1]
        x = self.dropout(x)
        for layer in self.layers:
            if isinstance(layer, TokenPool):
                x = layer(x)
            else:
                attn, ff = layer
                x = attn(x) + x
                x = ff(x) + x
        if exists(mask):
            x = x.masked_fill(~mask[..., None], 0.)
        return self.mlp_head(x[:, 0])
