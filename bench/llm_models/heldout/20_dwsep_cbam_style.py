import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, channels=(32, 64, 128, 256), dropout=0.3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.stages = nn.ModuleList()
        self.cas = nn.ModuleList()
        self.sas = nn.ModuleList()
        in_ch = channels[0]
        for i, ch in enumerate(channels):
            stride = 1 if i == 0 else 2
            self.stages.append(nn.Sequential(
                DepthwiseSeparableConv(in_ch, ch, kernel_size=3, stride=stride),
                nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True),
                DepthwiseSeparableConv(ch, ch, 3, 1),
                nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True),
            ))
            self.cas.append(ChannelAttention(ch, ratio=8))
            self.sas.append(SpatialAttention(kernel_size=7))
            in_ch = ch
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for stage, ca, sa in zip(self.stages, self.cas, self.sas):
            x = stage(x)
            x = ca(x) * x
            x = sa(x) * x
        x = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        return self.fc(self.dropout(x))
