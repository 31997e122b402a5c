# undefined: Inception, BlurPool
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Slim GoogLeNet for CIFAR with anti-aliased (blur) downsampling."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.3))

        self.pre_layers = nn.Sequential(
            nn.Conv2d(in_ch, 96, kernel_size=3, padding=1),
            nn.BatchNorm2d(96),
            nn.ReLU(True),
        )
        self.a3 = Inception(96, 32, 48, 64, 8, 16, 16)       # -> 128
        self.b3 = Inception(128, 64, 64, 96, 16, 48, 32)     # -> 240
        self.maxpool1 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), BlurPool(240, filt_size=3, stride=2))
        self.a4 = Inception(240, 96, 48, 104, 8, 24, 32)     # -> 256
        self.b4 = Inception(256, 80, 56, 112, 12, 32, 32)    # -> 256
        self.maxpool2 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), BlurPool(256, filt_size=3, stride=2))
        self.a5 = Inception(256, 128, 80, 160, 16, 64, 64)   # -> 416
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(416, num_classes)
        self.to(device)

    def forward(self, x):
        out = self.pre_layers(x)
        out = self.b3(self.a3(out))
        out = self.maxpool1(out)
        out = self.b4(self.a4(out))
        out = self.maxpool2(out)
        out = self.a5(out)
        out = self.avgpool(out).view(out.size(0), -1)
        return self.linear(self.drop(out))
