import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10, d_model=64, n_heads=4):
        super().__init__()
        self.proj = nn.Conv2d(3, d_model, 4, stride=4)
        self.pos = PositionalEncoding(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ff = FeedForward(d_model, d_model * 4)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = self.pos(x)
        x = x + self.attn(self.norm1(x))
        x = x + self.ff(self.norm2(x))
        return self.head(x.mean(1))
