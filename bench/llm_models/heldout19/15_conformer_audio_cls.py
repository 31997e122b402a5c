# undefined: ConformerConvModule
# input: 2,32,40 float32
import torch
import torch.nn as nn


class FeedForwardModule(nn.Module):
    def __init__(self, dim, mult=4, dropout=0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mult),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(dim * mult, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class ConformerLayer(nn.Module):
    """Macaron-style Conformer block: 1/2 FFN -> MHSA -> conv module -> 1/2 FFN -> LayerNorm."""

    def __init__(self, dim, heads=4, ff_mult=4, conv_kernel_size=15, dropout=0.1):
        super().__init__()
        self.ff1 = FeedForwardModule(dim, ff_mult, dropout)
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.conv = ConformerConvModule(dim=dim, causal=False, expansion_factor=2,
                                        kernel_size=conv_kernel_size, dropout=dropout)
        self.ff2 = FeedForwardModule(dim, ff_mult, dropout)
        self.post_norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = 0.5 * self.ff1(x) + x
        y = self.attn_norm(x)
        x = self.attn(y, y, y, need_weights=False)[0] + x
        x = self.conv(x) + x
        x = 0.5 * self.ff2(x) + x
        return self.post_norm(x)


class Net(nn.Module):
    """Keyword-spotting style classifier over log-mel frames (batch, time, n_mels)."""

    def __init__(self, in_shape=(1, 32, 40), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        n_mels = in_shape[-1]
        dim = prm.get("dim", 96)
        depth = prm.get("depth", 2)
        self.input_proj = nn.Sequential(nn.Linear(n_mels, dim), nn.Dropout(0.1))
        self.layers = nn.ModuleList([ConformerLayer(dim, heads=4, conv_kernel_size=15) for _ in range(depth)])
        self.classifier = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.input_proj(x)
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x.mean(dim=1))
