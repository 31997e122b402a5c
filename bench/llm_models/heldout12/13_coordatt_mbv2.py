# undefined: CoordAtt, h_swish
"""MobileNetV2-style network with Coordinate Attention.

Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021
(official code: github.com/houqb/CoordAttention).
"""
import torch
import torch.nn as nn
import math


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class CAInvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = round(inp * expand_ratio)
        self.identity = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden_dim),
            h_swish(),
            nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1, groups=hidden_dim, bias=False),
            nn.BatchNorm2d(hidden_dim),
            h_swish(),
            CoordAtt(hidden_dim, hidden_dim, reduction=32),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.identity else self.conv(x)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        # t, c, n, s
        cfgs = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 2, 2], [6, 96, 2, 1], [6, 160, 2, 2]]
        input_channel = 32
        layers = [nn.Sequential(nn.Conv2d(in_shape[1], input_channel, 3, 1, 1, bias=False),
                                nn.BatchNorm2d(input_channel), h_swish())]
        for t, c, n, s in cfgs:
            for i in range(n):
                layers.append(CAInvertedResidual(input_channel, c, s if i == 0 else 1, t))
                input_channel = c
        self.features = nn.Sequential(*layers)
        self.conv = nn.Sequential(nn.Conv2d(input_channel, 640, 1, 1, 0, bias=False),
                                  nn.BatchNorm2d(640), h_swish())
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(prm['dropout']), nn.Linear(640, out_shape[0]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2. / n))

    def forward(self, x):
        x = self.conv(self.features(x))
        x = self.avgpool(x).view(x.size(0), -1)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
