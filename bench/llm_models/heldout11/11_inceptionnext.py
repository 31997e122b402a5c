# undefined: InceptionDWConv2d, ConvMlp, MlpHead
import torch
import torch.nn as nn


class MetaNeXtLayer(nn.Module):
    def __init__(self, dim, mlp_ratio=4, ls_init_value=1e-6):
        super().__init__()
        self.token_mixer = InceptionDWConv2d(dim, square_kernel_size=3, band_kernel_size=11, branch_ratio=0.125)
        self.norm = nn.BatchNorm2d(dim)
        self.mlp = ConvMlp(dim, int(mlp_ratio * dim), act_layer=nn.GELU)
        self.gamma = nn.Parameter(ls_init_value * torch.ones(dim))

    def forward(self, x):
        shortcut = x
        x = self.token_mixer(x)
        x = self.norm(x)
        x = self.mlp(x)
        x = x.mul(self.gamma.reshape(1, -1, 1, 1))
        return x + shortcut


class Net(nn.Module):
    """InceptionNeXt (MetaNeXt) shrunk for 32x32 images."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (48, 96, 192)
        depths = (2, 2, 2)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], dims[0], kernel_size=2, stride=2),
            nn.BatchNorm2d(dims[0]),
        )
        stages = []
        for i in range(len(dims)):
            if i > 0:
                stages.append(nn.Sequential(
                    nn.BatchNorm2d(dims[i - 1]),
                    nn.Conv2d(dims[i - 1], dims[i], kernel_size=2, stride=2),
                ))
            stages.extend(MetaNeXtLayer(dims[i]) for _ in range(depths[i]))
        self.stages = nn.Sequential(*stages)
        self.head = MlpHead(dims[-1], out_shape[0], mlp_ratio=3, drop=prm.get("dropout", 0.0))

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        return self.head(x)
