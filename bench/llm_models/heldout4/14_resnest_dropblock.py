# undefined: SplAtConv2d, DropBlock2D
import torch
import torch.nn as nn


class ResNeStBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, radix=2, cardinality=1, bottleneck_width=64,
                 avd=True, dropblock_prob=0.0):
        super().__init__()
        group_width = int(planes * (bottleneck_width / 64.0)) * cardinality
        self.conv1 = nn.Conv2d(inplanes, group_width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(group_width)
        self.relu = nn.ReLU(inplace=True)

        self.avd = avd and stride > 1
        if self.avd:
            self.avd_layer = nn.AvgPool2d(3, stride, padding=1)
            stride = 1

        self.conv2 = SplAtConv2d(group_width, group_width, kernel_size=3, stride=stride, padding=1,
                                 groups=cardinality, bias=False, radix=radix, norm_layer=nn.BatchNorm2d)

        self.conv3 = nn.Conv2d(group_width, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.dropblock = DropBlock2D(drop_prob=dropblock_prob, block_size=3) if dropblock_prob > 0 else nn.Identity()

        self.downsample = None
        if self.avd or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False) if self.avd else nn.Identity(),
                nn.Conv2d(inplanes, planes * 4, kernel_size=1, stride=1, bias=False),
                nn.BatchNorm2d(planes * 4),
            )

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.avd:
            out = self.avd_layer(out)
        out = self.bn3(self.conv3(out))
        out = self.dropblock(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropblock_prob = prm.get("dropblock_prob", 0.1)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )

        layers = []
        inplanes = 64
        for i, (planes, n) in enumerate(zip([32, 64, 128], [2, 2, 2])):
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                # DropBlock only on the deeper stages
                db = dropblock_prob if i >= 1 else 0.0
                layers.append(ResNeStBottleneck(inplanes, planes, stride=stride, radix=2, dropblock_prob=db))
                inplanes = planes * ResNeStBottleneck.expansion
        self.layers = nn.Sequential(*layers)

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.drop(x))
