# undefined: Partial_conv3
import torch
import torch.nn as nn


class FasterNetBlock(nn.Module):
    """PConv (3x3 on 1/n_div of the channels) followed by a pointwise MLP, residual."""

    def __init__(self, dim, n_div=4, mlp_ratio=2.0, pconv_fw_type='split_cat'):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.spatial_mixing = Partial_conv3(dim, n_div, pconv_fw_type)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, dim, 1, bias=False),
        )

    def forward(self, x):
        shortcut = x
        x = self.spatial_mixing(x)
        return shortcut + self.mlp(x)


class Net(nn.Module):
    def __init__(self, num_classes=10, embed_dim=32, depths=(1, 2, 2), n_div=4, feature_dim=256):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, embed_dim, 2, 2, bias=False), nn.BatchNorm2d(embed_dim))
        layers, dim = [], embed_dim
        for i, d in enumerate(depths):
            layers += [FasterNetBlock(dim, n_div=n_div, pconv_fw_type='split_cat') for _ in range(d)]
            if i < len(depths) - 1:
                layers += [nn.Conv2d(dim, dim * 2, 2, 2, bias=False), nn.BatchNorm2d(dim * 2)]
                dim *= 2
        self.stages = nn.Sequential(*layers)
        self.avgpool_pre_head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, feature_dim, 1, bias=False),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = self.avgpool_pre_head(x)
        return self.head(torch.flatten(x, 1))
