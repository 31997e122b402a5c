# undefined: SequentialPolarizedSelfAttention, ParallelPolarizedSelfAttention
import torch
import torch.nn as nn


def conv_bn_relu(cin, cout, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class PSAResBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, psa="parallel"):
        super().__init__()
        self.conv1 = conv_bn_relu(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        if psa == "sequential":
            self.psa = SequentialPolarizedSelfAttention(channel=cout)
        else:
            self.psa = ParallelPolarizedSelfAttention(channel=cout)
        self.short = nn.Identity() if (stride == 1 and cin == cout) else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv2(self.conv1(x))
        out = self.psa(out)
        return self.relu(out + self.short(x))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = conv_bn_relu(3, 32)
        self.stage1 = PSAResBlock(32, 32, 1, psa="parallel")
        self.stage2 = PSAResBlock(32, 64, 2, psa="parallel")
        self.stage3 = PSAResBlock(64, 128, 2, psa="sequential")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(self.pool(x).flatten(1))
