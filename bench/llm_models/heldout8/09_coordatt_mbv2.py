# undefined: CoordAtt, h_swish
import torch
import torch.nn as nn
import torch.nn.functional as F


class IRBlock(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.identity = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            h_swish(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            h_swish(),
            CoordAtt(hidden, hidden, reduction=16),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.identity else self.conv(x)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))
        cfgs = [
            # t, c, n, s
            [1, 16, 1, 1],
            [4, 24, 2, 1],
            [4, 32, 2, 2],
            [4, 64, 3, 2],
            [4, 96, 2, 1],
            [4, 160, 2, 2],
        ]
        layers = [nn.Sequential(nn.Conv2d(in_ch, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), h_swish())]
        c = 32
        for t, oc, n, s in cfgs:
            for i in range(n):
                layers.append(IRBlock(c, oc, s if i == 0 else 1, t))
                c = oc
        self.features = nn.Sequential(*layers)
        self.conv = nn.Sequential(nn.Conv2d(c, 640, 1, bias=False), nn.BatchNorm2d(640), h_swish())
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(640, num_classes))
        self.to(device)

    def forward(self, x):
        x = self.features(x)
        x = self.conv(x)
        x = self.avgpool(x).view(x.size(0), -1)
        return self.classifier(x)
