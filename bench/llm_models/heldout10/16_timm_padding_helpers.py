# undefined: get_padding, adaptive_avgmax_pool2d
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class ConvBnAct(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size=3, stride=1, dilation=1, groups=1):
        super().__init__()
        padding = get_padding(kernel_size, stride, dilation)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class DilatedBlock(nn.Module):
    def __init__(self, chs, dilation):
        super().__init__()
        self.conv1 = ConvBnAct(chs, chs, 3, 1, dilation=dilation)
        self.conv2 = nn.Conv2d(chs, chs, 5, padding=get_padding(5, dilation=1), groups=chs, bias=False)
        self.bn2 = nn.BatchNorm2d(chs)

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(self.conv1(x))))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.dropout = prm.get("dropout", 0.2)
        self.stem = ConvBnAct(in_shape[1], 32, kernel_size=3, stride=1)
        self.down1 = ConvBnAct(32, 64, kernel_size=3, stride=2)
        self.block1 = DilatedBlock(64, dilation=1)
        self.down2 = ConvBnAct(64, 128, kernel_size=3, stride=2)
        self.block2 = DilatedBlock(128, dilation=2)
        self.block3 = DilatedBlock(128, dilation=3)
        self.fc = nn.Linear(128, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.block1(self.down1(x))
        x = self.down2(x)
        x = self.block3(self.block2(x))
        x = adaptive_avgmax_pool2d(x, 1).flatten(1)
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.fc(x)
