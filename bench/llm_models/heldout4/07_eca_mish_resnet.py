# undefined: eca_layer, Mish
import math
import torch
import torch.nn as nn


class ECABasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, gamma=2, b=1):
        super().__init__()
        t = int(abs((math.log2(planes) + b) / gamma))
        k_size = t if t % 2 else t + 1

        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act = Mish()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.eca = eca_layer(planes, k_size)

        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.downsample = nn.Identity()

    def forward(self, x):
        residual = self.downsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.eca(out)
        return self.act(out + residual)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.3)
        widths = [48, 96, 192, 320]
        depths = [2, 2, 2, 1]

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            Mish(),
        )

        layers = []
        inplanes = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            for j in range(d):
                stride = 2 if (j == 0 and i > 0) else 1
                layers.append(ECABasicBlock(inplanes, w, stride=stride))
                inplanes = w
        self.layers = nn.Sequential(*layers)

        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(inplanes, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        return self.head(x)
