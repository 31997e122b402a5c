# undefined: BlurPool, eca_layer
import torch
import torch.nn as nn


class ECABasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, k_size=3):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        if stride == 1:
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        else:
            # anti-aliased: blur before subsampling
            self.conv2 = nn.Sequential(
                BlurPool(planes, filt_size=4, stride=stride),
                nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
            )
        self.bn2 = nn.BatchNorm2d(planes)
        self.eca = eca_layer(planes, k_size)

        self.downsample = None
        if stride != 1 or inplanes != planes:
            layers = []
            if stride != 1:
                layers.append(BlurPool(inplanes, filt_size=4, stride=stride))
            layers += [nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)]
            self.downsample = nn.Sequential(*layers)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.eca(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        k_sizes = [3, 5, 7, 7]
        widths = [32, 64, 128, 256]
        strides = [1, 2, 2, 2]
        layers = []
        inplanes = 32
        for w, s, k in zip(widths, strides, k_sizes):
            layers.append(ECABasicBlock(inplanes, w, stride=s, k_size=k))
            layers.append(ECABasicBlock(w, w, stride=1, k_size=k))
            inplanes = w
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, out_shape[0])
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        x = self.avgpool(x).flatten(1)
        return self.fc(x)
