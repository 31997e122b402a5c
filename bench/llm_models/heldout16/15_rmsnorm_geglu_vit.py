# undefined: RMSNorm, GEGLU
import torch
import torch.nn as nn


class GatedFeedForward(nn.Module):
    def __init__(self, dim, mult=4, dropout=0.0):
        super().__init__()
        inner = int(dim * mult * 2 / 3)
        self.net = nn.Sequential(
            nn.Linear(dim, inner * 2),
            GEGLU(),
            nn.Dropout(dropout),
            nn.Linear(inner, dim),
        )

    def forward(self, x):
        return self.net(x)


class PreRMSBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn_norm = RMSNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True, bias=False)
        self.ffn_norm = RMSNorm(dim, eps=1e-6)
        self.ffn = GatedFeedForward(dim)

    def forward(self, x):
        h = self.attn_norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.ffn(self.ffn_norm(x))


class LlamaStyleViT(nn.Module):
    def __init__(self, num_classes=10, patch=4, dim=144, depth=4, heads=4):
        super().__init__()
        n = (32 // patch) ** 2
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.layers = nn.ModuleList([PreRMSBlock(dim, heads) for _ in range(depth)])
        self.norm = RMSNorm(dim)
        self.output = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], 1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.output(self.norm(x)[:, 0])
