import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10, width_mult=1.0):
        super().__init__()
        input_channel = _make_divisible(32 * width_mult, 8)
        layers = [ConvBNReLU(3, input_channel, stride=1)]
        cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 2, 2)]
        for t, c, n, s in cfg:
            out = _make_divisible(c * width_mult, 8)
            for i in range(n):
                layers.append(InvertedResidual(input_channel, out, s if i == 0 else 1, expand_ratio=t))
                input_channel = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(input_channel, num_classes)

    def forward(self, x):
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(x)
