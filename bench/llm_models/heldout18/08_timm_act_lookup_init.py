# undefined: get_act_layer, trunc_normal_tf_
import torch
import torch.nn as nn


class PatchConvBlock(nn.Module):
    """Depthwise 7x7 + pointwise MLP block, activation chosen by name (NAS search space)."""

    def __init__(self, dim, act_layer='gelu', mlp_ratio=3):
        super().__init__()
        act = get_act_layer(act_layer)
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.pw1 = nn.Conv2d(dim, dim * mlp_ratio, 1)
        self.act = act()
        self.pw2 = nn.Conv2d(dim * mlp_ratio, dim, 1)
        self.gamma = nn.Parameter(1e-2 * torch.ones(dim, 1, 1))

    def forward(self, x):
        shortcut = x
        x = self.norm(self.dwconv(x))
        x = self.pw2(self.act(self.pw1(x)))
        return shortcut + self.gamma * x


class Net(nn.Module):
    def __init__(self, num_classes=10, dims=(32, 64, 128), depths=(1, 1, 2), act_layer='gelu'):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 2, 2), nn.BatchNorm2d(dims[0]))
        stages = []
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i > 0:
                stages.append(nn.Sequential(nn.BatchNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], d, 2, 2)))
            stages += [PatchConvBlock(d, act_layer=act_layer) for _ in range(n)]
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1])
        self.head_act = get_act_layer('silu')()
        self.head = nn.Linear(dims[-1], num_classes)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            trunc_normal_tf_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = self.norm(x.mean(dim=(2, 3)))
        return self.head(self.head_act(x))
