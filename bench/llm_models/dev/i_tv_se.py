import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.se = SqueezeExcitation(64, 16)
        self.sd = StochasticDepth(0.1, "row")
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.conv(x)
        x = x + self.sd(self.se(x))
        return self.fc(x.mean((2, 3)))
