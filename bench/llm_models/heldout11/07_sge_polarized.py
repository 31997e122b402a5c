# undefined: SpatialGroupEnhance, SequentialPolarizedSelfAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


class SGEBasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1, groups=8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.sge = SpatialGroupEnhance(groups=groups)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.sge(out)
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    """SGE-ResNet with a polarized self-attention refinement on the last stage."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.conv1 = nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layer1 = nn.Sequential(SGEBasicBlock(32, 32), SGEBasicBlock(32, 32))
        self.layer2 = nn.Sequential(SGEBasicBlock(32, 64, 2), SGEBasicBlock(64, 64))
        self.layer3 = nn.Sequential(SGEBasicBlock(64, 128, 2), SGEBasicBlock(128, 128))
        self.layer4 = nn.Sequential(SGEBasicBlock(128, 256, 2, groups=16))
        self.psa = SequentialPolarizedSelfAttention(channel=256)
        self.linear = nn.Linear(256, out_shape[0])

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = out + self.psa(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
