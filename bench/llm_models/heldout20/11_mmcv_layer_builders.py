# undefined: build_conv_layer, build_activation_layer
import torch
import torch.nn as nn


class ConvBNAct(nn.Module):
    """Conv -> BN -> act, assembled from mmcv-style config dicts."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=1,
                 conv_cfg=None, act_cfg=dict(type='ReLU')):
        super().__init__()
        self.conv = build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.with_activation = act_cfg is not None
        if self.with_activation:
            act_cfg_ = act_cfg.copy()
            if act_cfg_['type'] not in ['Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU']:
                act_cfg_.setdefault('inplace', True)
            self.activate = build_activation_layer(act_cfg_)

    def forward(self, x):
        x = self.bn(self.conv(x))
        if self.with_activation:
            x = self.activate(x)
        return x


class CfgConvNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stage1 = nn.Sequential(
            ConvBNAct(3, 32, act_cfg=dict(type='ReLU')),
            ConvBNAct(32, 32, act_cfg=dict(type='LeakyReLU', negative_slope=0.1)))
        self.stage2 = nn.Sequential(
            ConvBNAct(32, 64, stride=2, act_cfg=dict(type='GELU')),
            ConvBNAct(64, 64, conv_cfg=dict(type='Conv'), act_cfg=dict(type='ELU')))
        self.stage3 = nn.Sequential(
            ConvBNAct(64, 128, stride=2, act_cfg=dict(type='PReLU')),
            ConvBNAct(128, 128, act_cfg=dict(type='ReLU6')))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(self.pool(x).flatten(1))
