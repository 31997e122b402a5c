# undefined: PSA, CoTAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


class EPSABlock(nn.Module):
    """Bottleneck whose 3x3 conv is replaced by pyramid split attention (EPSANet)."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        mid = out_ch // 2
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.psa = PSA(channel=mid, reduction=4, S=4)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.pool = nn.AvgPool2d(2) if stride == 2 else nn.Identity()
        self.short = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.short = nn.Sequential(nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                                       nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.psa(out)))
        out = self.pool(out)
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.short(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.layer1 = EPSABlock(64, 64, 1)
        self.layer2 = EPSABlock(64, 128, 2)
        self.cot = CoTAttention(dim=128, kernel_size=3)
        self.layer3 = EPSABlock(128, 256, 2)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm.get("dropout", 0.2)),
            nn.Linear(256, out_shape[0]),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = x + self.cot(x)
        x = self.layer3(x)
        return self.head(x)
