# undefined: BasicBlock, SELayer
import torch
import torch.nn as nn


class Net(nn.Module):
    """Small SE-ResNet for CIFAR-10: 3 stages of residual blocks with channel attention."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.1))
        widths = [32, 64, 128]

        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, widths[0], kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )

        layers = []
        inplanes = widths[0]
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )
            layers.append(BasicBlock(inplanes=inplanes, planes=planes, stride=stride, downsample=downsample))
            layers.append(BasicBlock(inplanes=planes, planes=planes))
            layers.append(SELayer(channel=planes, reduction=16))
            inplanes = planes
        self.layers = nn.Sequential(*layers)

        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        x = self.pool(x).flatten(1)
        x = self.dropout(x)
        return self.fc(x)
