"""LLM-written CIFAR-10 net: uses ConvBNAct (a conv + norm + activation block) without defining it."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            ConvBNAct(3, 32, kernel_size=3, stride=1),
            ConvBNAct(32, 64, kernel_size=3, stride=2),
            ConvBNAct(64, 128, kernel_size=3, stride=2),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
