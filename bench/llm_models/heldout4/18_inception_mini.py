# undefined: BasicConv2d, InceptionA
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.3)

        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 96, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)   # 32 -> 16

        self.Mixed_5b = InceptionA(96, pool_features=32)    # -> 256
        self.Mixed_5c = InceptionA(256, pool_features=64)   # -> 288
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)   # 16 -> 8
        self.Mixed_5d = InceptionA(288, pool_features=64)   # -> 288

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(288, num_classes)

    def forward(self, x):
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool1(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.maxpool2(x)
        x = self.Mixed_5d(x)
        x = self.avgpool(x)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc(x)
