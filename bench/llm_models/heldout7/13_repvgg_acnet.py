# undefined: RepVGGBlock, ACBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        self.deploy = prm.get("deploy", False)
        num_blocks = [2, 3, 4, 1]
        widths = [48, 96, 192, 384]

        self.in_planes = widths[0]
        self.stage0 = RepVGGBlock(in_channels=in_channels, out_channels=self.in_planes,
                                  kernel_size=3, stride=1, padding=1, deploy=self.deploy)
        self.stage1 = self._make_stage(RepVGGBlock, widths[0], num_blocks[0], stride=1)
        self.stage2 = self._make_stage(RepVGGBlock, widths[1], num_blocks[1], stride=2)
        self.stage3 = self._make_stage(RepVGGBlock, widths[2], num_blocks[2], stride=2)
        # asymmetric-convolution block for the last stage
        self.stage4 = self._make_stage(ACBlock, widths[3], num_blocks[3], stride=2)
        self.gap = nn.AdaptiveAvgPool2d(output_size=1)
        self.linear = nn.Linear(widths[3], num_classes)
        self.to(device)

    def _make_stage(self, block_cls, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        blocks = []
        for s in strides:
            blocks.append(block_cls(in_channels=self.in_planes, out_channels=planes, kernel_size=3,
                                    stride=s, padding=1, deploy=self.deploy))
            if block_cls is ACBlock:
                blocks.append(nn.ReLU(inplace=True))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = self.stage0(x)
        out = self.stage1(out)
        out = self.stage2(out)
        out = self.stage3(out)
        out = self.stage4(out)
        out = self.gap(out)
        out = out.view(out.size(0), -1)
        return self.linear(out)
