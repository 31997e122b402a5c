"""LLM-written CIFAR-10 net: forgot `import torch.nn.functional as F`, `import math` and `OrderedDict`."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, width=32):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, width, 3, padding=1)),
            ("bn1", nn.BatchNorm2d(width)),
            ("conv2", nn.Conv2d(width, width * 2, 3, padding=1)),
            ("bn2", nn.BatchNorm2d(width * 2)),
        ]))
        self.fc = nn.Linear(width * 2, num_classes)
        self.scale = 1.0 / math.sqrt(width * 2)

    def forward(self, x):
        x = F.relu(self.features(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x * self.scale)
