# undefined: SepConv, StarReLU, LayerNormGeneral
import torch
import torch.nn as nn


class StarMlp(nn.Module):
    def __init__(self, dim, mlp_ratio=4):
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.act = StarReLU()
        self.fc2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ConvFormerLayer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1 = LayerNormGeneral(dim, eps=1e-6, bias=False)
        self.token_mixer = SepConv(dim=dim, expansion_ratio=2, act1_layer=StarReLU, act2_layer=nn.Identity,
                                   bias=False, kernel_size=7, padding=3)
        self.norm2 = LayerNormGeneral(dim, eps=1e-6, bias=False)
        self.mlp = StarMlp(dim)

    def forward(self, x):  # B, H, W, C
        x = x + self.token_mixer(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class DownsampleCL(nn.Module):
    """Channels-last downsampling: norm -> permute -> strided conv -> permute."""

    def __init__(self, cin, cout, pre_norm=True):
        super().__init__()
        self.pre_norm = LayerNormGeneral(cin, normalized_dim=(1, 2, 3), eps=1e-6, bias=False) if pre_norm else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=2, padding=1)

    def forward(self, x):
        x = self.pre_norm(x)
        x = self.conv(x.permute(0, 3, 1, 2))
        return x.permute(0, 2, 3, 1)


class Net(nn.Module):
    """ConvFormer (MetaFormer baselines) for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (32, 64, 128)
        self.stem = nn.Conv2d(in_shape[1], dims[0], kernel_size=3, stride=2, padding=1)
        self.stem_norm = LayerNormGeneral(dims[0], bias=False, eps=1e-6)
        stages = []
        for i, d in enumerate(dims):
            if i > 0:
                stages.append(DownsampleCL(dims[i - 1], d))
            stages.append(ConvFormerLayer(d))
            stages.append(ConvFormerLayer(d))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Sequential(nn.Linear(dims[-1], 4 * dims[-1]), StarReLU(), nn.Linear(4 * dims[-1], out_shape[0]))

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        x = self.stem_norm(x)
        x = self.stages(x)
        x = self.norm(x.mean(dim=(1, 2)))
        return self.head(x)
