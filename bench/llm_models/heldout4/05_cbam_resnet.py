# undefined: CBAM, DropPath
import torch
import torch.nn as nn
import torch.nn.functional as F


class CBAMBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, drop_path=0.0):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.cbam = CBAM(out_planes, reduction_ratio=16)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

        self.downsample = None
        if stride != 1 or inplanes != out_planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        out = self.cbam(out)
        out = identity + self.drop_path(out)
        return F.relu(out, inplace=True)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        drop_path_rate = prm.get("drop_path_rate", 0.1)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )

        stage_planes = [32, 64, 128]
        stage_blocks = [2, 3, 2]
        stage_strides = [1, 2, 2]
        total = sum(stage_blocks)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]

        blocks = []
        inplanes = 64
        idx = 0
        for planes, n, s in zip(stage_planes, stage_blocks, stage_strides):
            for i in range(n):
                blocks.append(CBAMBottleneck(inplanes, planes, stride=s if i == 0 else 1, drop_path=dpr[idx]))
                inplanes = planes * CBAMBottleneck.expansion
                idx += 1
        self.blocks = nn.Sequential(*blocks)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)
