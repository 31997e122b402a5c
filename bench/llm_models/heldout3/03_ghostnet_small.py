# undefined: GhostModule, GhostBottleneck
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Compact GhostNet-style classifier for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))

        self.conv_stem = nn.Conv2d(in_ch, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.ReLU(inplace=True)

        # k, exp, out, se_ratio, stride
        cfgs = [
            [3, 16, 16, 0.0, 1],
            [3, 48, 24, 0.0, 2],
            [3, 72, 24, 0.0, 1],
            [5, 72, 40, 0.25, 2],
            [5, 120, 40, 0.25, 1],
            [3, 240, 80, 0.0, 2],
            [3, 200, 80, 0.0, 1],
            [3, 480, 112, 0.25, 1],
            [5, 672, 160, 0.25, 1],
        ]
        blocks = []
        c_in = 16
        for k, exp, c_out, se, s in cfgs:
            blocks.append(
                GhostBottleneck(
                    in_chs=c_in,
                    mid_chs=exp,
                    out_chs=c_out,
                    dw_kernel_size=k,
                    stride=s,
                    se_ratio=se,
                )
            )
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)

        self.conv_head = GhostModule(inp=c_in, oup=480, kernel_size=1, ratio=2, dw_size=3, stride=1, relu=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(480, 640)
        self.dropout = dropout
        self.classifier = nn.Linear(640, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.conv_head(x)
        x = self.global_pool(x).flatten(1)
        x = F.relu(self.fc1(x), inplace=True)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)
