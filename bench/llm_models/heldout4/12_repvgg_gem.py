# undefined: RepVGGBlock, GeM
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        num_blocks = [2, 4, 6, 1]
        widths = [32, 64, 128, 256]
        dropout = prm.get("dropout", 0.1)

        self.stage0 = RepVGGBlock(in_channels=in_channels, out_channels=32, kernel_size=3, stride=1, padding=1)
        self.in_planes = 32
        self.stage1 = self._make_stage(widths[0], num_blocks[0], stride=1)
        self.stage2 = self._make_stage(widths[1], num_blocks[1], stride=2)
        self.stage3 = self._make_stage(widths[2], num_blocks[2], stride=2)
        self.stage4 = self._make_stage(widths[3], num_blocks[3], stride=2)

        self.gem = GeM(p=3)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(widths[3], num_classes)

    def _make_stage(self, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        blocks = []
        for s in strides:
            blocks.append(RepVGGBlock(in_channels=self.in_planes, out_channels=planes,
                                      kernel_size=3, stride=s, padding=1))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = self.stage0(x)
        out = self.stage1(out)
        out = self.stage2(out)
        out = self.stage3(out)
        out = self.stage4(out)
        out = self.gem(out)
        out = out.view(out.size(0), -1)
        return self.linear(self.dropout(out))
