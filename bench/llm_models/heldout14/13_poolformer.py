# undefined: Pooling, GroupNorm
import torch
import torch.nn as nn


class PoolFormerBlockLite(nn.Module):
    def __init__(self, dim, pool_size=3, mlp_ratio=4., layer_scale_init_value=1e-5):
        super().__init__()
        self.norm1 = GroupNorm(dim)
        self.token_mixer = Pooling(pool_size=pool_size)
        self.norm2 = GroupNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones((dim)), requires_grad=True)
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones((dim)), requires_grad=True)

    def forward(self, x):
        x = x + self.layer_scale_1.unsqueeze(-1).unsqueeze(-1) * self.token_mixer(self.norm1(x))
        x = x + self.layer_scale_2.unsqueeze(-1).unsqueeze(-1) * self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        dims = [32, 64, 128, 160]
        layers = [2, 2, 2, 1]
        self.patch_embed = nn.Conv2d(3, dims[0], kernel_size=3, stride=1, padding=1)
        net = []
        for i, (d, n) in enumerate(zip(dims, layers)):
            if i > 0:
                net.append(nn.Conv2d(dims[i - 1], d, kernel_size=3, stride=2, padding=1))
            net.extend(PoolFormerBlockLite(d, pool_size=3) for _ in range(n))
        self.network = nn.Sequential(*net)
        self.norm = GroupNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.norm(self.network(self.patch_embed(x)))
        return self.head(x.mean([-2, -1]))
