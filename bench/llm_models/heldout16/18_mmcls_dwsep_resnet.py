# undefined: DepthwiseSeparableConvModule, build_norm_layer
import torch
import torch.nn as nn


class DWSepBasicBlock(nn.Module):
    """mmcls-style residual block; norms are built from a cfg and registered by name."""

    def __init__(self, in_channels, out_channels, stride=1, norm_cfg=dict(type='BN', requires_grad=True)):
        super().__init__()
        self.conv1 = DepthwiseSeparableConvModule(
            in_channels, out_channels, 3, stride=stride, padding=1,
            norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            _, ds_norm = build_norm_layer(norm_cfg, out_channels)
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), ds_norm)
        self.relu = nn.ReLU(inplace=True)

    @property
    def norm2(self):
        return getattr(self, self.norm2_name)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.norm2(self.conv2(self.conv1(x)))
        return self.relu(out + identity)


class MMClsDWResNet(nn.Module):
    def __init__(self, num_classes=10, stem_channels=32, stage_channels=(32, 64, 128),
                 norm_cfg=dict(type='BN', requires_grad=True)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_channels, 3, 1, 1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        layers, in_ch = [], stem_channels
        for i, ch in enumerate(stage_channels):
            stride = 1 if i == 0 else 2
            layers += [DWSepBasicBlock(in_ch, ch, stride, norm_cfg), DWSepBasicBlock(ch, ch, 1, norm_cfg)]
            in_ch = ch
        self.layers = nn.Sequential(*layers)
        self.neck = nn.AdaptiveAvgPool2d((1, 1))
        self.head_norm = build_norm_layer(dict(type='LN'), in_ch)[1]
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        x = self.neck(self.layers(x)).flatten(1)
        return self.fc(self.head_norm(x))
