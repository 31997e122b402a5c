import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(96),
            nn.ReLU(inplace=True),
        )
        self.fire2 = FireModule(96, 16, 64, 64)
        self.fire3 = FireModule(128, 16, 64, 64)
        self.fire4 = FireModule(128, 32, 128, 128)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fire5 = FireModule(256, 32, 128, 128)
        self.fire6 = FireModule(256, 48, 192, 192)
        self.fire7 = FireModule(384, 48, 192, 192)
        self.fire8 = FireModule(384, 64, 256, 256)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fire9 = FireModule(512, 64, 256, 256)
        self.dropout = nn.Dropout(p=dropout)
        self.conv10 = nn.Conv2d(512, num_classes, kernel_size=1)

    def forward(self, x):
        x = self.stem(x)
        x = self.fire2(x)
        x = x + self.fire3(x)  # simple bypass
        x = self.fire4(x)
        x = self.pool1(x)
        x = x + self.fire5(x)
        x = self.fire6(x)
        x = x + self.fire7(x)
        x = self.fire8(x)
        x = self.pool2(x)
        x = x + self.fire9(x)
        x = self.conv10(self.dropout(x))
        x = F.relu(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return torch.flatten(x, 1)
