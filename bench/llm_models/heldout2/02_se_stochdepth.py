import torch
import torch.nn as nn


class SEResBlock(nn.Module):
    # residual block with squeeze-excitation and stochastic depth on the branch
    def __init__(self, channels, drop_prob=0.0):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.se = SqueezeExcitation(channels, channels // 4)
        self.drop = StochasticDepth(drop_prob, "row")
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.drop(self.se(self.branch(x))))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        widths = [48, 96, 192]
        layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        n_blocks, idx = 2 * len(widths), 0
        for i, w in enumerate(widths):
            if i > 0:
                layers += [nn.Conv2d(widths[i - 1], w, 3, stride=2, padding=1, bias=False),
                           nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            for _ in range(2):
                layers.append(SEResBlock(w, drop_prob=0.1 * idx / n_blocks))
                idx += 1
        self.features = nn.Sequential(*layers)
        self.dropblock = DropBlock2d(p=0.1, block_size=3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.dropblock(self.features(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)
