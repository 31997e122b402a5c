# undefined: SimpleStemIN, BottleneckTransform
import torch
import torch.nn as nn


class RegBlock(nn.Module):
    def __init__(self, w_in, w_out, stride, group_width, se_ratio):
        super().__init__()
        self.proj = None
        if w_in != w_out or stride != 1:
            self.proj = nn.Sequential(nn.Conv2d(w_in, w_out, 1, stride=stride, bias=False), nn.BatchNorm2d(w_out))
        self.f = BottleneckTransform(w_in, w_out, stride, nn.BatchNorm2d, nn.ReLU,
                                     group_width=group_width, bottleneck_multiplier=1.0, se_ratio=se_ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        widths = [48, 96, 192]
        depths = [1, 2, 2]
        group_width = 16
        self.stem = SimpleStemIN(in_shape[1], 32, nn.BatchNorm2d, nn.ReLU)  # stride 2 -> 16x16
        blocks, w_in = [], 32
        for i, (w, d) in enumerate(zip(widths, depths)):
            for j in range(d):
                stride = 2 if (j == 0 and i > 0) else 1
                blocks.append(RegBlock(w_in, w, stride, group_width, 0.25))
                w_in = w
        self.trunk = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.trunk(x)
        x = self.avgpool(x).flatten(1)
        return self.fc(x)
