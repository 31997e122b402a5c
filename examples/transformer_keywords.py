"""LLM-written CIFAR-10 net: a small vision transformer that uses DropPath and Mlp without defining them, and
passes Mlp's dropout rate as ``dropout=`` (timm's Mlp calls it ``drop=``)."""
import torch
import torch.nn as nn


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=dim * 2, dropout=0.1)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.drop_path(self.attn(y, y, y, need_weights=False)[0])
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Net(nn.Module):
    def __init__(self, num_classes: int = 10, dim: int = 64):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 64, dim))
        self.layers = nn.Sequential(*[EncoderLayer(dim, 4, 0.1 * i) for i in range(2)])
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.layers(x).mean(1))
