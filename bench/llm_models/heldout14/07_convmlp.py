# undefined: ConvMlp
import torch
import torch.nn as nn


class ConvMlpBlock(nn.Module):
    def __init__(self, dim, mlp_ratio=3.0):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.mlp = ConvMlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU, drop=0.)
        self.gamma = nn.Parameter(1e-2 * torch.ones(dim, 1, 1))

    def forward(self, x):
        return x + self.gamma * self.mlp(self.norm(self.dw(x)))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        dims = [48, 96, 192]
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 3, 1, 1), nn.BatchNorm2d(dims[0]), nn.GELU())
        layers = []
        prev = dims[0]
        for i, d in enumerate(dims):
            if i > 0:
                layers.append(nn.Conv2d(prev, d, 2, 2))
            layers += [ConvMlpBlock(d), ConvMlpBlock(d)]
            prev = d
        self.layers = nn.Sequential(*layers)
        self.head = ConvMlp(dims[-1], hidden_features=256, out_features=num_classes,
                            act_layer=nn.ReLU, norm_layer=nn.BatchNorm2d)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = self.head(self.pool(x))
        return x.flatten(1)
