import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), Mish())
        self.se = SEModule(32, reduction=8)
        self.drop = DropPath(0.1)
        self.pool = SelectAdaptivePool2d(pool_type='avg', flatten=True)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.drop(self.se(x))
        return self.fc(self.pool(x))
