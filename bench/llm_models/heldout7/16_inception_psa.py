# undefined: BasicConv2d, InceptionA, ParallelPolarizedSelfAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 64, kernel_size=3, stride=2, padding=1)
        self.Mixed_5b = InceptionA(64, pool_features=32)    # -> 256
        self.Mixed_5c = InceptionA(256, pool_features=64)   # -> 288
        self.psa1 = ParallelPolarizedSelfAttention(channel=288)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(288, 192, kernel_size=1)
        self.Mixed_6a = InceptionA(192, pool_features=64)   # -> 288
        self.psa2 = ParallelPolarizedSelfAttention(channel=288)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=prm.get("dropout", 0.3))
        self.fc = nn.Linear(288, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.psa1(x)
        x = self.maxpool(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Mixed_6a(x)
        x = self.psa2(x)
        x = self.avgpool(x)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc(x)
