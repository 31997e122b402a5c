# undefined: Bottleneck, CBAM
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        self.in_planes = 32
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layer1 = self._make_layer(32, 2, stride=1)
        self.layer2 = self._make_layer(64, 2, stride=2)
        self.layer3 = self._make_layer(128, 2, stride=2)
        self.cbam1 = CBAM(32 * Bottleneck.expansion, reduction_ratio=16)
        self.cbam2 = CBAM(64 * Bottleneck.expansion, reduction_ratio=16)
        self.cbam3 = CBAM(128 * Bottleneck.expansion, reduction_ratio=16)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.linear = nn.Linear(128 * Bottleneck.expansion, num_classes)
        self.to(device)

    def _make_layer(self, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(Bottleneck(self.in_planes, planes, s))
            self.in_planes = planes * Bottleneck.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.cbam1(self.layer1(out))
        out = self.cbam2(self.layer2(out))
        out = self.cbam3(self.layer3(out))
        out = F.adaptive_avg_pool2d(out, 1)
        out = out.view(out.size(0), -1)
        out = self.dropout(out)
        return self.linear(out)
