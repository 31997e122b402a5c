# undefined: CascadedGroupAttention
import torch
import torch.nn as nn


class ConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, k=1, s=1, groups=1):
        super().__init__(nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out))


class ResidualFFN(nn.Module):
    def __init__(self, dim, ratio=2):
        super().__init__()
        self.pw1 = ConvBN(dim, dim * ratio)
        self.act = nn.ReLU()
        self.pw2 = ConvBN(dim * ratio, dim)

    def forward(self, x):
        return x + self.pw2(self.act(self.pw1(x)))


class EViTBlock(nn.Module):
    """EfficientViT (MSRA) sandwich: DW -> FFN -> cascaded group attention -> DW -> FFN."""

    def __init__(self, dim, key_dim, num_heads, resolution):
        super().__init__()
        self.dw0 = ConvBN(dim, dim, 3, 1, groups=dim)
        self.ffn0 = ResidualFFN(dim)
        self.mixer = CascadedGroupAttention(dim, key_dim, num_heads=num_heads,
                                            attn_ratio=dim / (key_dim * num_heads),
                                            resolution=resolution, kernels=[5] * num_heads)
        self.dw1 = ConvBN(dim, dim, 3, 1, groups=dim)
        self.ffn1 = ResidualFFN(dim)

    def forward(self, x):
        x = self.ffn0(x + self.dw0(x))
        x = x + self.mixer(x)
        return self.ffn1(x + self.dw1(x))


class EfficientViTCifar(nn.Module):
    def __init__(self, num_classes=10, dims=(64, 128), key_dim=16, heads=(4, 4)):
        super().__init__()
        self.patch_embed = nn.Sequential(
            ConvBN(3, dims[0] // 2, 3, 2), nn.ReLU(),
            ConvBN(dims[0] // 2, dims[0], 3, 2),  # 8x8
        )
        self.stage1 = EViTBlock(dims[0], key_dim, heads[0], resolution=8)
        self.down = nn.Sequential(ConvBN(dims[0], dims[1], 3, 2), nn.ReLU())  # 4x4
        self.stage2 = EViTBlock(dims[1], key_dim, heads[1], resolution=4)
        self.head = nn.Sequential(nn.BatchNorm1d(dims[1]), nn.Linear(dims[1], num_classes))

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.stage2(self.down(self.stage1(x)))
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)
