# undefined: gnconv, GlobalLocalFilter
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelsFirstLN(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class HorLayer(nn.Module):
    def __init__(self, dim, gnconv_layer, layer_scale_init_value=1e-6):
        super().__init__()
        self.norm1 = ChannelsFirstLN(dim)
        self.gnconv = gnconv_layer(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.gamma2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x):
        B, C, H, W = x.shape
        x = x + self.gamma1.view(C, 1, 1) * self.gnconv(self.norm1(x))
        y = x.permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm2(y))))
        y = self.gamma2 * y
        return x + y.permute(0, 3, 1, 2)


class Net(nn.Module):
    """HorNet (recursive gated conv) with global-local filters in the low-res stages."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (32, 64, 128)
        s = 1.0 / 3.0
        gnconv_layers = [
            partial(gnconv, order=2, s=s),
            partial(gnconv, order=3, gflayer=GlobalLocalFilter, h=8, w=5, s=s),
            partial(gnconv, order=4, gflayer=GlobalLocalFilter, h=4, w=3, s=s),
        ]
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], dims[0], kernel_size=2, stride=2), ChannelsFirstLN(dims[0]))
        layers = []
        for i, d in enumerate(dims):
            if i > 0:
                layers += [ChannelsFirstLN(dims[i - 1]), nn.Conv2d(dims[i - 1], d, kernel_size=2, stride=2)]
            layers += [HorLayer(d, gnconv_layers[i]), HorLayer(d, gnconv_layers[i])]
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], out_shape[0])

    def forward(self, x):
        x = self.features(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(self.norm(x))
