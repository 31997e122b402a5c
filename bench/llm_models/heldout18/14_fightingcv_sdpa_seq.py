# undefined: ScaledDotProductAttention
# input: 2,16,32 float32
import torch
import torch.nn as nn


class EncoderBlockSDPA(nn.Module):
    def __init__(self, d_model, h, d_ff, dropout=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = ScaledDotProductAttention(d_model=d_model, d_k=d_model // h, d_v=d_model // h, h=h, dropout=dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y)
        return x + self.ffn(self.norm2(x))


class Net(nn.Module):
    """Sequence classifier over (batch, length, features) sensor windows."""

    def __init__(self, in_features=32, d_model=64, h=4, d_ff=128, depth=2, max_len=256, num_classes=10):
        super().__init__()
        self.input_proj = nn.Linear(in_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        self.blocks = nn.ModuleList([EncoderBlockSDPA(d_model, h, d_ff) for _ in range(depth)])
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x):
        x = self.input_proj(x) + self.pos[:, :x.size(1)]
        for blk in self.blocks:
            x = blk(x)
        return self.fc(self.norm(x).mean(dim=1))
