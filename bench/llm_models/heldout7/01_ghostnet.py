# undefined: GhostBottleneck, _make_divisible
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        width = prm.get("width", 1.0)
        # k, exp_size, c, se_ratio, s  (GhostNet config, trimmed for CIFAR)
        self.cfgs = [
            [[3, 16, 16, 0, 1]],
            [[3, 48, 24, 0, 2]],
            [[3, 72, 24, 0, 1]],
            [[5, 72, 40, 0.25, 2]],
            [[5, 120, 40, 0.25, 1]],
            [[3, 240, 80, 0, 2]],
            [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1]],
            [[5, 672, 160, 0.25, 1]],
        ]

        output_channel = _make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(in_channels, output_channel, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(output_channel)
        self.act1 = nn.ReLU(inplace=True)
        input_channel = output_channel

        stages = []
        exp_size = 16
        for cfg in self.cfgs:
            layers = []
            for k, exp_size, c, se_ratio, s in cfg:
                output_channel = _make_divisible(c * width, 4)
                hidden_channel = _make_divisible(exp_size * width, 4)
                layers.append(GhostBottleneck(input_channel, hidden_channel, output_channel, k, s,
                                              se_ratio=se_ratio))
                input_channel = output_channel
            stages.append(nn.Sequential(*layers))

        output_channel = _make_divisible(exp_size * width, 4)
        stages.append(nn.Sequential(
            nn.Conv2d(input_channel, output_channel, 1, bias=False),
            nn.BatchNorm2d(output_channel),
            nn.ReLU(inplace=True),
        ))
        input_channel = output_channel
        self.blocks = nn.Sequential(*stages)

        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(input_channel, 640, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.dropout = prm.get("dropout", 0.2)
        self.classifier = nn.Linear(640, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.global_pool(x)
        x = self.act2(self.conv_head(x))
        x = x.view(x.size(0), -1)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)
