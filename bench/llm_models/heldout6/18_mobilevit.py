# undefined: MV2Block, MobileViTBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_nxn_bn(inp, oup, kernel_size=3, stride=1):
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel_size, stride, 1, bias=False),
        nn.BatchNorm2d(oup),
        nn.SiLU(),
    )


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dims = [64, 80, 96]
        channels = [16, 16, 24, 24, 48, 64, 80, 320]
        expansion = 4
        kernel_size = 3
        patch_size = (2, 2)
        depths = [2, 4, 3]

        self.conv1 = conv_nxn_bn(in_channels, channels[0], stride=1)

        self.mv2 = nn.ModuleList([])
        self.mv2.append(MV2Block(channels[0], channels[1], 1, expansion))
        self.mv2.append(MV2Block(channels[1], channels[2], 2, expansion))  # 16x16
        self.mv2.append(MV2Block(channels[2], channels[3], 1, expansion))
        self.mv2.append(MV2Block(channels[3], channels[4], 2, expansion))  # 8x8
        self.mv2.append(MV2Block(channels[4], channels[5], 2, expansion))  # 4x4

        self.mvit = nn.ModuleList([])
        self.mvit.append(MobileViTBlock(dims[0], depths[0], channels[4], kernel_size, patch_size, int(dims[0] * 2)))
        self.mvit.append(MobileViTBlock(dims[1], depths[1], channels[5], kernel_size, patch_size, int(dims[1] * 4)))
        self.mvit.append(MobileViTBlock(dims[2], depths[2], channels[6], kernel_size, patch_size, int(dims[2] * 4)))

        self.mv2_last = MV2Block(channels[5], channels[6], 1, expansion)
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels[6], channels[7], 1, 1, 0, bias=False),
            nn.BatchNorm2d(channels[7]),
            nn.SiLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[7], num_classes, bias=False)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        x = self.mv2[0](x)
        x = self.mv2[1](x)
        x = self.mv2[2](x)
        x = self.mv2[3](x)   # 48 ch, 8x8
        x = self.mvit[0](x)
        x = self.mv2[4](x)   # 64 ch, 4x4
        x = self.mvit[1](x)
        x = self.mv2_last(x)  # 80 ch, 4x4
        x = self.mvit[2](x)
        x = self.conv2(x)
        x = self.pool(x).view(-1, x.shape[1])
        return self.fc(x)
