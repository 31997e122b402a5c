# undefined: CoordAtt, h_swish
import torch
import torch.nn as nn


class CABottleneck(nn.Module):
    def __init__(self, inp, hidden, oup, k, stride, use_ca):
        super().__init__()
        self.identity = stride == 1 and inp == oup
        layers = [
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            h_swish(),
            nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            h_swish(),
        ]
        if use_ca:
            layers.append(CoordAtt(hidden, hidden, 32))
        layers += [
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.identity:
            return x + self.conv(x)
        return self.conv(x)


class Net(nn.Module):
    """MobileNetV3-small-like backbone with Coordinate Attention."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))

        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            h_swish(),
        )
        # k, hidden, out, use_ca, stride
        cfgs = [
            (3, 16, 16, True, 1),
            (3, 72, 24, False, 2),
            (3, 88, 24, False, 1),
            (5, 96, 40, True, 2),
            (5, 240, 40, True, 1),
            (5, 120, 48, True, 1),
            (5, 288, 96, True, 2),
            (5, 576, 96, True, 1),
        ]
        blocks = []
        c = 16
        for k, hidden, oc, ca, s in cfgs:
            blocks.append(CABottleneck(c, hidden, oc, k, s, ca))
            c = oc
        self.blocks = nn.Sequential(*blocks)
        self.conv_last = nn.Sequential(
            nn.Conv2d(c, 576, 1, 1, 0, bias=False),
            nn.BatchNorm2d(576),
            h_swish(),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(576, 1024),
            h_swish(),
            nn.Dropout(dropout),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.conv_last(x)
        x = self.avgpool(x).view(x.size(0), -1)
        return self.classifier(x)
