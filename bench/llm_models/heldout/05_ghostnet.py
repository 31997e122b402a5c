import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes=10, width=1.0, dropout=0.2):
        super(Net, self).__init__()
        # k, exp, c, se_ratio, s
        cfgs = [
            [3, 16, 16, 0, 1],
            [3, 48, 24, 0, 2],
            [3, 72, 24, 0, 1],
            [5, 72, 40, 0.25, 2],
            [5, 120, 40, 0.25, 1],
            [3, 240, 80, 0, 2],
            [3, 184, 80, 0, 1],
            [3, 480, 112, 0.25, 1],
            [5, 672, 160, 0.25, 1],
        ]
        self.conv_stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.ReLU(inplace=True)
        input_channel = 16
        stages = []
        for k, exp_size, c, se_ratio, s in cfgs:
            output_channel = int(c * width)
            hidden_channel = int(exp_size * width)
            stages.append(GhostBottleneck(input_channel, hidden_channel, output_channel, k, s, se_ratio=se_ratio))
            input_channel = output_channel
        stages.append(ConvBnAct(input_channel, 960, 1))
        self.blocks = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = GhostModule(960, 1280, kernel_size=1, relu=True)
        self.dropout = dropout
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.global_pool(x)
        x = self.conv_head(x)
        x = x.view(x.size(0), -1)
        if self.dropout > 0.:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)
