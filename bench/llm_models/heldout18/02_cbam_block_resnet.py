# undefined: CBAMBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResStage(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )
        # CBAM refinement (channel + spatial attention) on the residual branch
        self.cbam = CBAMBlock(channel=out_ch, reduction=8, kernel_size=7)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.cbam(out)
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, num_classes=10, base=32):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, base, 3, 1, 1, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
        )
        self.layer1 = ResStage(base, base, 1)
        self.layer2 = ResStage(base, base * 2, 2)
        self.layer3 = ResStage(base * 2, base * 4, 2)
        self.head = nn.Linear(base * 4, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)
