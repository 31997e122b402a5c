# undefined: InvertedResidual, _make_divisible, ConvBNReLU
import torch
import torch.nn as nn


class Net(nn.Module):
    """MobileNetV2-lite adapted to 32x32 inputs (stride-1 stem, fewer downsamples)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        width_mult = float(prm.get("width_mult", 1.0))
        dropout = float(prm.get("dropout", 0.2))

        input_channel = _make_divisible(32 * width_mult, 8)
        last_channel = _make_divisible(640 * max(1.0, width_mult), 8)

        # t, c, n, s
        cfg = [
            [1, 16, 1, 1],
            [6, 24, 2, 1],
            [6, 32, 3, 2],
            [6, 64, 3, 2],
            [6, 96, 2, 1],
            [6, 160, 2, 2],
        ]

        features = [ConvBNReLU(in_ch, input_channel, 3, 1)]
        for t, c, n, s in cfg:
            output_channel = _make_divisible(c * width_mult, 8)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride, t))
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, last_channel, 1))
        self.features = nn.Sequential(*features)

        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(last_channel, num_classes),
        )

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)
