# undefined: InvertedResidual, conv_bn, conv_1x1_bn
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        width_mult = prm.get("width_mult", 1.0)
        # t, c, n, s  (CIFAR variant: fewer downsamplings)
        inverted_residual_setting = [
            [1, 16, 1, 1],
            [6, 24, 2, 1],
            [6, 32, 3, 2],
            [6, 64, 3, 2],
            [6, 96, 2, 1],
            [6, 160, 2, 2],
        ]
        input_channel = int(32 * width_mult)
        self.last_channel = int(640 * max(1.0, width_mult))
        features = [conv_bn(in_channels, input_channel, 1)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = int(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride, expand_ratio=t))
                input_channel = output_channel
        features.append(conv_1x1_bn(input_channel, self.last_channel))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(prm.get("dropout", 0.2)),
            nn.Linear(self.last_channel, num_classes),
        )
        self.to(device)

    def forward(self, x):
        x = self.features(x)
        x = x.mean([2, 3])
        x = self.classifier(x)
        return x
