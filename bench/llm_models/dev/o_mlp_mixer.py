import torch
import torch.nn as nn

class MixerLayer(nn.Module):
    def __init__(self, dim, tokens, drop_path=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = Mlp(tokens, tokens * 2)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = Mlp(in_features=dim, hidden_features=dim * 4)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        x = x + self.drop_path(self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2))
        return x + self.drop_path(self.channel_mlp(self.norm2(x)))

class Net(nn.Module):
    def __init__(self, num_classes=10, dim=64):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 4, 4)
        self.layers = nn.Sequential(MixerLayer(dim, 64), MixerLayer(dim, 64))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        return self.head(self.layers(x).mean(1))
