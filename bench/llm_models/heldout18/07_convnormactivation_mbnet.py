# undefined: ConvNormActivation
import torch
import torch.nn as nn


class MBlock(nn.Module):
    """MobileNetV2/V3-style inverted residual built from torchvision conv-norm-act units."""

    def __init__(self, inp, oup, stride, expand_ratio, use_hs=False):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        act = nn.Hardswish if use_hs else nn.ReLU6
        self.use_res = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(ConvNormActivation(inp, hidden, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=act))
        layers.extend([
            ConvNormActivation(hidden, hidden, kernel_size=3, stride=stride, groups=hidden,
                               norm_layer=nn.BatchNorm2d, activation_layer=act),
            ConvNormActivation(hidden, oup, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=None),
        ])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class Net(nn.Module):
    # (expand, out, stride, hardswish)
    cfg = [
        (1, 16, 1, False),
        (4, 24, 2, False),
        (4, 24, 1, False),
        (4, 40, 2, True),
        (4, 40, 1, True),
        (4, 80, 2, True),
    ]

    def __init__(self, num_classes=10, last_channel=256):
        super().__init__()
        layers = [ConvNormActivation(3, 16, kernel_size=3, stride=1, activation_layer=nn.Hardswish)]
        inp = 16
        for t, c, s, hs in self.cfg:
            layers.append(MBlock(inp, c, s, t, hs))
            inp = c
        layers.append(ConvNormActivation(inp, last_channel, kernel_size=1, activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)
