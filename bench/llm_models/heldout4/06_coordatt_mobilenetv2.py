# undefined: InvertedResidual, CoordAtt
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

        input_channel = 32
        last_channel = 1280
        # t, c, n, s  (strides adapted for 32x32 CIFAR inputs)
        inverted_residual_setting = [
            [1, 16, 1, 1],
            [6, 24, 2, 1],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, input_channel, 3, 1, 1, bias=False),
            nn.BatchNorm2d(input_channel),
            nn.ReLU6(inplace=True),
        )

        stages = []
        for t, c, n, s in inverted_residual_setting:
            layers = []
            for i in range(n):
                stride = s if i == 0 else 1
                layers.append(InvertedResidual(input_channel, c, stride, expand_ratio=t))
                input_channel = c
            # coordinate attention at the end of every stage
            layers.append(CoordAtt(c, c, reduction=32))
            stages.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*stages)

        self.conv_last = nn.Sequential(
            nn.Conv2d(input_channel, last_channel, 1, 1, 0, bias=False),
            nn.BatchNorm2d(last_channel),
            nn.ReLU6(inplace=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(last_channel, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.features(x)
        x = self.conv_last(x)
        x = self.avgpool(x).view(x.size(0), -1)
        return self.classifier(x)
