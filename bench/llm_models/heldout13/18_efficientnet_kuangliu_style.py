# undefined: swish, SE
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class MBBlock(nn.Module):
    """expansion + depthwise + squeeze-excitation + pointwise (EfficientNet MBConv)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio=1, se_ratio=0.25):
        super().__init__()
        self.expand_ratio = expand_ratio
        channels = expand_ratio * in_channels
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=1, stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=kernel_size, stride=stride,
                               padding=(1 if kernel_size == 3 else 2), groups=channels, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        se_channels = max(1, int(in_channels * se_ratio))
        self.se = SE(channels, se_channels)
        self.conv3 = nn.Conv2d(channels, out_channels, kernel_size=1, stride=1, padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.has_skip = (stride == 1) and (in_channels == out_channels)

    def forward(self, x):
        out = x if self.expand_ratio == 1 else swish(self.bn1(self.conv1(x)))
        out = swish(self.bn2(self.conv2(out)))
        out = self.se(out)
        out = self.bn3(self.conv3(out))
        return out + x if self.has_skip else out


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        # (expansion, out_channels, num_blocks, kernel_size, stride)
        cfg = [(1, 16, 1, 3, 1), (6, 24, 2, 3, 1), (6, 40, 2, 5, 2),
               (6, 80, 3, 3, 2), (6, 112, 3, 5, 1), (6, 192, 4, 5, 2), (6, 320, 1, 3, 1)]
        self.conv1 = nn.Conv2d(in_shape[1], 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, in_channels = [], 32
        for expansion, out_channels, num_blocks, kernel_size, stride in cfg:
            for s in [stride] + [1] * (num_blocks - 1):
                layers.append(MBBlock(in_channels, out_channels, kernel_size, s, expansion))
                in_channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(prm['dropout'])
        self.linear = nn.Linear(in_channels, out_shape[0])

    def forward(self, x):
        out = swish(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(self.dropout(out))

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
