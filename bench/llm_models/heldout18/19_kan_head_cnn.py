# undefined: KANLinear
import torch
import torch.nn as nn


class Net(nn.Module):
    """Small CNN feature extractor followed by a 2-layer Kolmogorov-Arnold (B-spline) head."""

    def __init__(self, num_classes=10, channels=(16, 32, 64), kan_hidden=32, grid_size=5, spline_order=3):
        super().__init__()
        layers = []
        in_ch = 3
        for c in channels:
            layers += [
                nn.Conv2d(in_ch, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(in_ch)
        self.kan1 = KANLinear(in_ch, kan_hidden, grid_size=grid_size, spline_order=spline_order,
                              base_activation=nn.SiLU, grid_range=[-1, 1])
        self.kan2 = KANLinear(kan_hidden, num_classes, grid_size=grid_size, spline_order=spline_order)

    def forward(self, x):
        x = self.features(x)
        x = self.norm(self.pool(x).flatten(1))
        x = self.kan1(x)
        return self.kan2(x)
