# undefined: ResnetBlock, LinearAttention
import torch
import torch.nn as nn


class PreNormResidualAttn(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x)) + x


class DiffusionStyleClassifier(nn.Module):
    """Classifier whose stages reuse the U-Net building blocks of denoising-diffusion-pytorch."""

    def __init__(self, channels=3, dim=32, dim_mults=(1, 2, 4), num_classes=10, resnet_block_groups=8):
        super().__init__()
        self.init_conv = nn.Conv2d(channels, dim, 7, padding=3)
        dims = [dim, *map(lambda m: dim * m, dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))

        self.downs = nn.ModuleList([])
        for ind, (dim_in, dim_out) in enumerate(in_out):
            is_last = ind >= (len(in_out) - 1)
            self.downs.append(nn.ModuleList([
                ResnetBlock(dim_in, dim_in, groups=resnet_block_groups),
                PreNormResidualAttn(dim_in, LinearAttention(dim_in, heads=4, dim_head=16)),
                nn.Conv2d(dim_in, dim_out, 4, 2, 1) if not is_last else nn.Conv2d(dim_in, dim_out, 3, padding=1),
            ]))
        mid_dim = dims[-1]
        self.mid_block = ResnetBlock(mid_dim, mid_dim, groups=resnet_block_groups)
        self.head = nn.Sequential(nn.GroupNorm(8, mid_dim), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(mid_dim, num_classes))

    def forward(self, x):
        x = self.init_conv(x)
        for block, attn, downsample in self.downs:
            x = block(x)
            x = attn(x)
            x = downsample(x)
        x = self.mid_block(x)
        return self.head(x)
