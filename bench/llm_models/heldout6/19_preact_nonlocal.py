# undefined: PreActBlock, NONLocalBlock2D
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        num_blocks = [2, 2, 2, 2]
        self.in_planes = 32
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(PreActBlock, 32, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(PreActBlock, 64, num_blocks[1], stride=2)
        self.nl2 = NONLocalBlock2D(64, sub_sample=True, bn_layer=True)
        self.layer3 = self._make_layer(PreActBlock, 128, num_blocks[2], stride=2)
        self.nl3 = NONLocalBlock2D(in_channels=128, inter_channels=64, sub_sample=False)
        self.layer4 = self._make_layer(PreActBlock, 256, num_blocks[3], stride=2)
        self.bn = nn.BatchNorm2d(256 * PreActBlock.expansion)
        self.linear = nn.Linear(256 * PreActBlock.expansion, num_classes)
        self.to(device)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.nl2(out)
        out = self.layer3(out)
        out = self.nl3(out)
        out = self.layer4(out)
        out = F.relu(self.bn(out))
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)
