import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, layers=(2, 2, 2, 2), baseWidth=26, scale=4):
        super(Net, self).__init__()
        self.inplanes = 64
        self.baseWidth = baseWidth
        self.scale = scale
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.ca = CoordAtt(512 * Bottle2neck.expansion, 512 * Bottle2neck.expansion, reduction=32)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottle2neck.expansion, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottle2neck.expansion:
            downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(self.inplanes, planes * Bottle2neck.expansion, kernel_size=1, stride=1, bias=False),
                nn.BatchNorm2d(planes * Bottle2neck.expansion),
            )
        layers = [Bottle2neck(self.inplanes, planes, stride, downsample=downsample,
                              stype='stage', baseWidth=self.baseWidth, scale=self.scale)]
        self.inplanes = planes * Bottle2neck.expansion
        for _ in range(1, blocks):
            layers.append(Bottle2neck(self.inplanes, planes, baseWidth=self.baseWidth, scale=self.scale))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.ca(x)
        x = self.avgpool(x).view(x.size(0), -1)
        return self.fc(x)
