# undefined: GhostModule, GhostBottleneck
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        # k, exp_size, c, se_ratio, s
        cfgs = [
            [3, 16, 16, 0, 1],
            [3, 48, 24, 0, 2],
            [3, 72, 24, 0, 1],
            [5, 72, 40, 0.25, 2],
            [5, 120, 40, 0.25, 1],
            [3, 240, 80, 0, 2],
            [3, 200, 80, 0, 1],
            [3, 480, 112, 0.25, 1],
            [5, 672, 160, 0.25, 1],
        ]
        self.stem = GhostModule(in_channels, 16, kernel_size=3, ratio=2, dw_size=3, stride=1, relu=True)
        layers = []
        input_channel = 16
        for k, exp_size, c, se_ratio, s in cfgs:
            layers.append(GhostBottleneck(input_channel, exp_size, c, dw_kernel_size=k, stride=s, se_ratio=se_ratio))
            input_channel = c
        self.blocks = nn.Sequential(*layers)
        self.conv_head = GhostModule(input_channel, 480, kernel_size=1, relu=True)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(480, 640)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.classifier = nn.Linear(640, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.conv_head(x)
        x = self.global_pool(x).view(x.size(0), -1)
        x = self.act(self.fc1(x))
        x = self.dropout(x)
        return self.classifier(x)
