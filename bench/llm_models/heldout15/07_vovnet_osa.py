# undefined: OsaBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Small VoVNetV2-style network: one-shot aggregation (OSA) blocks with
    effective squeeze-excitation ('ese') and identity residuals."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 48, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(48),
            nn.ReLU(inplace=True),
        )  # 16x16
        # stage 1 (16x16)
        self.stage1 = OsaBlock(48, 32, 96, layer_per_block=3, residual=False, depthwise=False, attn="ese")
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # 8x8
        # stage 2 (8x8)
        self.stage2 = nn.Sequential(
            OsaBlock(96, 48, 160, layer_per_block=3, residual=False, attn="ese"),
            OsaBlock(160, 48, 160, layer_per_block=3, residual=True, attn="ese"),
        )
        self.pool2 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # 4x4
        # stage 3 (4x4), depthwise variant
        self.stage3 = OsaBlock(160, 64, 192, layer_per_block=2, residual=False, depthwise=True, attn="ese")
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(192, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.pool1(self.stage1(x))
        x = self.pool2(self.stage2(x))
        x = self.stage3(x)
        x = torch.flatten(self.global_pool(x), 1)
        return self.fc(x)
