# undefined: ECAAttention, SKAttention, iAFF
import torch
import torch.nn as nn


def conv_bn_act(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.stem = conv_bn_act(in_shape[1], 32)
        self.stage1 = nn.Sequential(conv_bn_act(32, 64, 2), conv_bn_act(64, 64))   # 16x16
        self.eca = ECAAttention(kernel_size=5)
        self.stage2 = nn.Sequential(conv_bn_act(64, 128, 2), conv_bn_act(128, 128))  # 8x8
        self.sk = SKAttention(channel=128, kernels=[1, 3, 5], reduction=8)
        self.shortcut = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False), nn.BatchNorm2d(128))
        self.fuse = iAFF(channels=128, r=4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.eca(self.stage1(x))
        y = self.sk(self.stage2(x))
        x = self.fuse(y, self.shortcut(x))
        return self.fc(self.pool(x).flatten(1))
