# undefined: PreActBlock, ChannelAttention, SpatialAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Pre-activation ResNet-18 (slim) with CBAM after every stage."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        block = PreActBlock
        widths = [32, 64, 128, 256]
        num_blocks = [2, 2, 2, 2]
        self.in_planes = widths[0]

        self.conv1 = nn.Conv2d(in_ch, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.layers = nn.ModuleList()
        self.cas = nn.ModuleList()
        self.sas = nn.ModuleList()
        for i, (w, n) in enumerate(zip(widths, num_blocks)):
            stride = 1 if i == 0 else 2
            self.layers.append(self._make_layer(block, w, n, stride))
            self.cas.append(ChannelAttention(w * block.expansion, ratio=8))
            self.sas.append(SpatialAttention(kernel_size=7))
        self.bn = nn.BatchNorm2d(widths[-1] * block.expansion)
        self.linear = nn.Linear(widths[-1] * block.expansion, num_classes)
        self.to(device)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        for layer, ca, sa in zip(self.layers, self.cas, self.sas):
            out = layer(out)
            out = ca(out) * out
            out = sa(out) * out
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
