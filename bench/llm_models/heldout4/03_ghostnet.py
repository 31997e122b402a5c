# undefined: GhostBottleneck, GhostModule
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.2)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )

        # k, exp, c, se_ratio, s
        cfgs = [
            [3, 16, 16, 0, 1],
            [3, 48, 24, 0, 2],
            [3, 72, 24, 0, 1],
            [5, 72, 40, 0.25, 2],
            [5, 120, 40, 0.25, 1],
            [3, 240, 80, 0, 2],
            [3, 200, 80, 0, 1],
            [3, 480, 112, 0.25, 1],
            [5, 672, 160, 0.25, 1],
        ]
        layers = []
        in_chs = 16
        for k, exp_size, c, se_ratio, s in cfgs:
            layers.append(GhostBottleneck(in_chs, exp_size, c, dw_kernel_size=k, stride=s, se_ratio=se_ratio))
            in_chs = c
        self.blocks = nn.Sequential(*layers)

        self.conv_head = GhostModule(in_chs, 480, kernel_size=1, relu=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(480, 640),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(640, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.conv_head(x)
        x = self.pool(x).flatten(1)
        return self.classifier(x)
