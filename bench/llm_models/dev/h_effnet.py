import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 32, kernel_size=3, stride=2, activation_layer=nn.SiLU)
        self.b1 = MBConv(32, 16, expand_ratio=1, kernel=3, stride=1)
        self.b2 = FusedMBConv(16, 24, expand_ratio=4, kernel=3, stride=2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, num_classes))

    def forward(self, x):
        return self.head(self.b2(self.b1(self.stem(x))))
