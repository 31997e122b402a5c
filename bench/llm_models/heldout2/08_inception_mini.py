import torch
import torch.nn as nn


class Net(nn.Module):
    """Mini Inception-v3: stem + two InceptionA modules + one grid reduction."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            BasicConv2d(3, 32, kernel_size=3, padding=1),
            BasicConv2d(32, 64, kernel_size=3, padding=1),
        )
        self.mixed_a1 = InceptionA(64, pool_features=32)    # -> 256 channels
        self.mixed_a2 = InceptionA(256, pool_features=64)   # -> 288 channels
        self.reduction = InceptionB(288)                    # -> 768 channels, 15x15
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.3)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.mixed_a1(x)
        x = self.mixed_a2(x)
        x = self.reduction(x)
        x = self.avgpool(x)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc(x)
