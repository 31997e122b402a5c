# undefined: channel_shuffle, InvertedResidual
import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupShuffleUnit(nn.Module):
    """ShuffleNet-v1 style unit: grouped 1x1 -> shuffle -> dw 3x3 -> grouped 1x1."""

    def __init__(self, channels, groups=4):
        super().__init__()
        mid = channels // 4
        self.groups = groups
        self.gconv1 = nn.Conv2d(channels, mid, 1, groups=groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.dw = nn.Conv2d(mid, mid, 3, 1, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.gconv2 = nn.Conv2d(mid, channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = F.relu(self.bn1(self.gconv1(x)))
        out = channel_shuffle(out, self.groups)
        out = self.bn2(self.dw(out))
        out = self.bn3(self.gconv2(out))
        return F.relu(out + x)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dropout = float(prm.get("dropout", 0.1))
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        stage_channels = [48, 96, 192]
        repeats = [2, 3, 2]

        self.conv1 = nn.Sequential(
            nn.Conv2d(in_ch, 24, 3, 1, 1, bias=False),
            nn.BatchNorm2d(24),
            nn.ReLU(inplace=True),
        )
        stages = []
        c = 24
        for oc, r in zip(stage_channels, repeats):
            blocks = [InvertedResidual(c, oc, 2)]
            for _ in range(r - 1):
                blocks.append(InvertedResidual(oc, oc, 1))
            blocks.append(GroupShuffleUnit(oc, groups=4))
            stages.append(nn.Sequential(*blocks))
            c = oc
        self.stages = nn.Sequential(*stages)
        self.conv5 = nn.Sequential(
            nn.Conv2d(c, 512, 1, bias=False),
            nn.BatchNorm2d(512),
            nn.ReLU(inplace=True),
        )
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(512, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        x = self.stages(x)
        x = self.conv5(x)
        x = x.mean([2, 3])
        return self.fc(self.drop(x))
