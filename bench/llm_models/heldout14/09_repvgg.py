# undefined: RepVGGBlock, conv_bn
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        widths = [32, 64, 128, 256]
        num_blocks = [1, 2, 2, 1]
        self.stage0 = RepVGGBlock(in_channels=3, out_channels=widths[0], kernel_size=3, stride=1, padding=1)
        self.in_planes = widths[0]
        stages = []
        for i, (w, n) in enumerate(zip(widths, num_blocks)):
            stride = 1 if i == 0 else 2
            strides = [stride] + [1] * (n - 1)
            blocks = []
            for s in strides:
                blocks.append(RepVGGBlock(in_channels=self.in_planes, out_channels=w, kernel_size=3,
                                          stride=s, padding=1, groups=1))
                self.in_planes = w
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head_proj = conv_bn(in_channels=widths[-1], out_channels=256, kernel_size=1, stride=1, padding=0)
        self.gap = nn.AdaptiveAvgPool2d(output_size=1)
        self.linear = nn.Linear(256, num_classes)

    def forward(self, x):
        out = self.stages(self.stage0(x))
        out = torch.relu(self.head_proj(out))
        out = self.gap(out)
        out = out.view(out.size(0), -1)
        return self.linear(out)
