# undefined: ConvModule, involution
import torch
import torch.nn as nn
import torch.nn.functional as F


class InvBottleneck(nn.Module):
    """RedNet bottleneck: 1x1 ConvModule -> involution -> 1x1 ConvModule."""

    def __init__(self, in_channels, out_channels, stride=1, expansion=4):
        super().__init__()
        mid = out_channels // expansion
        self.conv1 = ConvModule(in_channels, mid, kernel_size=1, stride=1, bias=False,
                                norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU"))
        self.conv2 = involution(mid, 7, stride)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv3 = ConvModule(mid, out_channels, kernel_size=1, bias=False,
                                norm_cfg=dict(type="BN"), act_cfg=None)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity(),
                ConvModule(in_channels, out_channels, kernel_size=1, bias=False,
                           norm_cfg=dict(type="BN"), act_cfg=None),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv1(x)
        out = F.relu(self.norm2(self.conv2(out)))
        out = self.conv3(out)
        return F.relu(out + identity)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]

        self.stem = nn.Sequential(
            ConvModule(in_ch, 32, kernel_size=3, stride=1, padding=1, bias=False,
                       norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU")),
            ConvModule(32, 64, kernel_size=3, stride=1, padding=1, bias=False,
                       norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU")),
        )
        self.layer1 = nn.Sequential(InvBottleneck(64, 128, 1), InvBottleneck(128, 128, 1))
        self.layer2 = nn.Sequential(InvBottleneck(128, 256, 2), InvBottleneck(256, 256, 1))
        self.layer3 = nn.Sequential(InvBottleneck(256, 512, 2))
        self.fc = nn.Linear(512, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)
