# undefined: Pooling, Mlp, GroupNorm
import torch
import torch.nn as nn
import torch.nn.functional as F


class PoolFormerBlock(nn.Module):
    def __init__(self, dim, pool_size=3, mlp_ratio=4.0, drop=0.0, layer_scale_init_value=1e-5):
        super().__init__()
        self.norm1 = GroupNorm(dim)
        self.token_mixer = Pooling(pool_size=pool_size)
        self.norm2 = GroupNorm(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x):
        # x: [B, C, H, W]
        x = x + self.layer_scale_1.unsqueeze(-1).unsqueeze(-1) * self.token_mixer(self.norm1(x))
        x = x + self.layer_scale_2.unsqueeze(-1).unsqueeze(-1) * self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        drop = float(prm.get("dropout", 0.0))
        layers = [2, 2, 4, 2]
        dims = [32, 64, 160, 256]

        self.patch_embed = nn.Conv2d(in_ch, dims[0], kernel_size=3, stride=1, padding=1)
        stages = []
        for i in range(4):
            blocks = [PoolFormerBlock(dims[i], pool_size=3, mlp_ratio=4, drop=drop) for _ in range(layers[i])]
            if i < 3:
                blocks.append(nn.Conv2d(dims[i], dims[i + 1], kernel_size=3, stride=2, padding=1))
            stages.append(nn.Sequential(*blocks))
        self.network = nn.Sequential(*stages)
        self.norm = GroupNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)
        self.to(device)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.network(x)
        x = self.norm(x)
        return self.head(x.mean([-2, -1]))
