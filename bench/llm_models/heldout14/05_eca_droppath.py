# undefined: EcaModule, drop_path
import torch
import torch.nn as nn


class EcaBottleneck(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1, drop_prob=0.0):
        super().__init__()
        mid = out_ch // 2
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.eca = EcaModule(out_ch, kernel_size=3)
        self.relu = nn.ReLU(inplace=True)
        self.drop_prob = drop_prob
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.eca(self.bn3(self.conv3(out)))
        out = drop_path(out, self.drop_prob, self.training)
        return self.relu(out + shortcut)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        cfg = [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2)]
        blocks = []
        c = 32
        for i, (oc, s) in enumerate(cfg):
            blocks.append(EcaBottleneck(c, oc, s, drop_prob=0.1 * i / len(cfg)))
            c = oc
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))
