# undefined: SwitchNorm2d
import torch
import torch.nn as nn
import torch.nn.functional as F


class SNConvBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1, last_gamma=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.sn1 = SwitchNorm2d(out_ch, using_moving_average=True, using_bn=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.sn2 = SwitchNorm2d(out_ch, using_moving_average=True, using_bn=True, last_gamma=last_gamma)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), SwitchNorm2d(out_ch))

    def forward(self, x):
        out = F.relu(self.sn1(self.conv1(x)))
        out = self.sn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class Net(nn.Module):
    """ResNet-ish CNN where every normalization is Switchable Normalization (IN/LN/BN mixture)."""

    def __init__(self, num_classes=10, widths=(32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), SwitchNorm2d(widths[0]), nn.ReLU(inplace=True))
        blocks = []
        in_ch = widths[0]
        for i, w in enumerate(widths):
            blocks.append(SNConvBlock(in_ch, w, stride=1 if i == 0 else 2, last_gamma=True))
            in_ch = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)
