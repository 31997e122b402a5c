# undefined: RepVGGBlock, conv_bn
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        widths = [32, 64, 128, 256]
        depths = [1, 2, 3, 1]
        self.deploy = bool(prm.get("deploy", False))

        self.stage0 = RepVGGBlock(in_channels=in_ch, out_channels=widths[0], kernel_size=3, stride=1, padding=1, deploy=self.deploy)
        self.in_planes = widths[0]
        self.stage1 = self._make_stage(widths[0], depths[0], stride=1)
        self.stage2 = self._make_stage(widths[1], depths[1], stride=2)
        self.stage3 = self._make_stage(widths[2], depths[2], stride=2)
        self.stage4 = self._make_stage(widths[3], depths[3], stride=2)
        self.head_proj = conv_bn(widths[3], 384, kernel_size=1, stride=1, padding=0)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(384, num_classes)
        self.to(device)

    def _make_stage(self, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        blocks = []
        for s in strides:
            blocks.append(RepVGGBlock(in_channels=self.in_planes, out_channels=planes, kernel_size=3,
                                      stride=s, padding=1, groups=1, deploy=self.deploy))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = self.stage0(x)
        out = self.stage1(out)
        out = self.stage2(out)
        out = self.stage3(out)
        out = self.stage4(out)
        out = F.relu(self.head_proj(out))
        out = self.gap(out).flatten(1)
        return self.linear(out)
