# undefined: PreActBottleneck
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Pre-activation ResNet with bottleneck blocks (PreActResNet-29 style, widths 32..128) for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = torch.device(device)
        block = PreActBottleneck
        num_blocks = [3, 3, 3]
        self.in_planes = 32

        self.conv1 = nn.Conv2d(in_shape[1], 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(block, 32, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 64, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 128, num_blocks[2], stride=2)
        # final BN-ReLU since blocks are pre-activation
        self.bn = nn.BatchNorm2d(128 * block.expansion)
        self.dropout = nn.Dropout(p=prm.get('dropout', 0.0))
        self.linear = nn.Linear(128 * block.expansion, out_shape[0])

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

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
        out = self.layer3(out)
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1)
        out = out.view(out.size(0), -1)
        out = self.dropout(out)
        out = self.linear(out)
        return out
