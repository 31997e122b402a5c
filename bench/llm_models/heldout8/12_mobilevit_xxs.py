# undefined: MV2Block, MobileViTBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """MobileViT-XXS adapted to 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dims = [64, 80, 96]
        channels = [16, 16, 24, 24, 48, 64, 80, 320]
        expansion = 2
        patch_size = (2, 2)

        self.conv1 = nn.Sequential(nn.Conv2d(in_ch, channels[0], 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(channels[0]), nn.SiLU())
        self.mv2 = nn.ModuleList([
            MV2Block(channels[0], channels[1], 1, expansion),
            MV2Block(channels[1], channels[2], 2, expansion),   # 16x16
            MV2Block(channels[2], channels[3], 1, expansion),
            MV2Block(channels[3], channels[4], 2, expansion),   # 8x8
            MV2Block(channels[4], channels[5], 2, expansion),   # 4x4
            MV2Block(channels[5], channels[6], 1, expansion),
        ])
        self.mvit = nn.ModuleList([
            MobileViTBlock(dims[0], 2, channels[4], 3, patch_size, int(dims[0] * 2)),
            MobileViTBlock(dims[1], 2, channels[5], 3, patch_size, int(dims[1] * 2)),
            MobileViTBlock(dims[2], 2, channels[6], 3, patch_size, int(dims[2] * 2)),
        ])
        self.conv2 = nn.Sequential(nn.Conv2d(channels[6], channels[7], 1, bias=False),
                                   nn.BatchNorm2d(channels[7]), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[7], num_classes, bias=False)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        x = self.mv2[0](x)
        x = self.mv2[1](x)
        x = self.mv2[2](x)
        x = self.mv2[3](x)
        x = self.mvit[0](x)
        x = self.mv2[4](x)
        x = self.mvit[1](x)
        x = self.mv2[5](x)
        x = self.mvit[2](x)
        x = self.conv2(x)
        x = self.pool(x).view(-1, x.shape[1])
        return self.fc(x)
