# undefined: GhostModuleV2
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class GhostBottleneckV2Lite(nn.Module):
    """GhostNetV2-style bottleneck: ghost expansion (with DFC attention after the
    first stage), optional depthwise stride-2 conv, ghost projection and a shortcut."""

    def __init__(self, in_chs, mid_chs, out_chs, dw_kernel_size=3, stride=1, layer_id=0):
        super().__init__()
        self.stride = stride
        # DFC attention is disabled for the first layers, as in the paper
        mode = "original" if layer_id <= 1 else "attn"
        self.ghost1 = GhostModuleV2(in_chs, mid_chs, relu=True, mode=mode, args=None)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid_chs, mid_chs, dw_kernel_size, stride=stride,
                                     padding=(dw_kernel_size - 1) // 2, groups=mid_chs, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        self.ghost2 = GhostModuleV2(mid_chs, out_chs, relu=False, mode="original", args=None)

        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chs, in_chs, dw_kernel_size, stride=stride,
                          padding=(dw_kernel_size - 1) // 2, groups=in_chs, bias=False),
                nn.BatchNorm2d(in_chs),
                nn.Conv2d(in_chs, out_chs, 1, bias=False),
                nn.BatchNorm2d(out_chs),
            )

    def forward(self, x):
        residual = x
        x = self.ghost1(x)
        if self.stride > 1:
            x = self.bn_dw(self.conv_dw(x))
        x = self.ghost2(x)
        return x + self.shortcut(residual)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get("dropout", 0.2)

        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        # (mid, out, stride)
        cfg = [(16, 16, 1), (48, 24, 2), (72, 24, 1), (120, 40, 2), (240, 64, 2)]
        blocks = []
        in_chs = 16
        for layer_id, (mid, out, s) in enumerate(cfg):
            blocks.append(GhostBottleneckV2Lite(in_chs, mid, out, stride=s, layer_id=layer_id))
            in_chs = out
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Sequential(
            nn.Conv2d(in_chs, 256, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.conv_head(x)
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.dropout(x))
