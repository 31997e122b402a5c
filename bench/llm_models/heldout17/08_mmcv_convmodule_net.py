# undefined: ConvModule, kaiming_init, constant_init
import torch
import torch.nn as nn


class BasicResBlock(nn.Module):
    """mmpretrain-style residual block built from mmcv ConvModules."""

    def __init__(self, in_channels, out_channels, stride=1, norm_cfg=dict(type='BN', requires_grad=True)):
        super().__init__()
        self.conv1 = ConvModule(in_channels, out_channels, 3, stride=stride, padding=1,
                                norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
        self.conv2 = ConvModule(out_channels, out_channels, 3, stride=1, padding=1,
                                norm_cfg=norm_cfg, act_cfg=None)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = ConvModule(in_channels, out_channels, 1, stride=stride,
                                         norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        return self.relu(out + identity)


class Net(nn.Module):
    def __init__(self, num_classes=10, stem_channels=32, stage_channels=(32, 64, 128)):
        super().__init__()
        norm_cfg = dict(type='BN', requires_grad=True)
        self.stem = nn.Sequential(
            ConvModule(3, stem_channels, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')),
            ConvModule(stem_channels, stem_channels, 3, stride=1, padding=1,
                       norm_cfg=dict(type='GN', num_groups=8, requires_grad=True), act_cfg=dict(type='ReLU')),
        )
        layers, in_ch = [], stem_channels
        for i, ch in enumerate(stage_channels):
            layers.append(BasicResBlock(in_ch, ch, stride=1 if i == 0 else 2, norm_cfg=norm_cfg))
            in_ch = ch
        self.layers = nn.Sequential(*layers)
        self.neck = nn.AdaptiveAvgPool2d((1, 1))
        self.head = nn.Linear(in_ch, num_classes)
        self.init_weights()

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                constant_init(m, 1)
        nn.init.normal_(self.head.weight, 0, 0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(self.neck(x), 1))
