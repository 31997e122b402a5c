# undefined: RepViTBlock
import torch
import torch.nn as nn


class StemBN(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__(
            nn.Conv2d(c_in, c_out // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out // 2), nn.GELU(),
            nn.Conv2d(c_out // 2, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out),
        )


class RepViTCifar(nn.Module):
    # [k, expansion t, c, use_se, use_hs, stride] as in the RepViT cfgs
    CFGS = [
        [3, 2, 32, 1, 0, 1],
        [3, 2, 32, 0, 0, 1],
        [3, 2, 64, 0, 1, 2],
        [3, 2, 64, 1, 1, 1],
        [3, 2, 64, 0, 1, 1],
        [3, 2, 128, 0, 1, 2],
        [3, 2, 128, 1, 1, 1],
    ]

    def __init__(self, num_classes=10):
        super().__init__()
        input_channel = self.CFGS[0][2]
        layers = [StemBN(3, input_channel)]  # 16x16
        for k, t, c, use_se, use_hs, s in self.CFGS:
            output_channel = c
            exp_size = input_channel * t
            layers.append(RepViTBlock(input_channel, exp_size, output_channel, k, s, use_se, use_hs))
            input_channel = output_channel
        self.features = nn.Sequential(*layers)
        self.norm = nn.BatchNorm1d(input_channel)
        self.classifier = nn.Linear(input_channel, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(self.norm(x))
