# undefined: SplAtConv2d, SKConv
import torch
import torch.nn as nn
import torch.nn.functional as F


class SplitBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes, planes, stride=1, radix=2, cardinality=1, bottleneck_width=64):
        super().__init__()
        group_width = int(planes * (bottleneck_width / 64.0)) * cardinality
        self.conv1 = nn.Conv2d(inplanes, group_width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(group_width)
        self.conv2 = SplAtConv2d(group_width, group_width, kernel_size=3, stride=stride, padding=1,
                                 groups=cardinality, bias=False, radix=radix, norm_layer=nn.BatchNorm2d)
        self.conv3 = nn.Conv2d(group_width, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(inplanes, planes * self.expansion, kernel_size=1, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        radix = int(prm.get("radix", 2))

        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        )
        self.sk = SKConv(64, M=2, G=8, r=4)
        self.layer1 = nn.Sequential(SplitBottleneck(64, 32, 1, radix), SplitBottleneck(64, 32, 1, radix))
        self.layer2 = nn.Sequential(SplitBottleneck(64, 64, 2, radix), SplitBottleneck(128, 64, 1, radix))
        self.layer3 = nn.Sequential(SplitBottleneck(128, 128, 2, radix))
        self.sk_out = SKConv(256, M=2, G=16, r=8)
        self.fc = nn.Linear(256, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.sk(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.sk_out(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)
