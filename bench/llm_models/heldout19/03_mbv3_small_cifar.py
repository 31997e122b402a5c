# undefined: InvertedResidualConfig, InvertedResidual
from functools import partial

import torch
import torch.nn as nn


class Net(nn.Module):
    """MobileNetV3-Small adapted to 32x32 inputs (stride-1 stem, fewer downsamplings),
    built from torchvision's InvertedResidualConfig / InvertedResidual."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        width_mult = prm.get("width_mult", 0.75)
        dropout = prm.get("dropout", 0.2)

        norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        bneck_conf = partial(InvertedResidualConfig, width_mult=width_mult)
        adjust_channels = partial(InvertedResidualConfig.adjust_channels, width_mult=width_mult)

        # input_channels, kernel, expanded_channels, out_channels, use_se, activation, stride, dilation
        inverted_residual_setting = [
            bneck_conf(16, 3, 16, 16, True, "RE", 1, 1),
            bneck_conf(16, 3, 72, 24, False, "RE", 2, 1),
            bneck_conf(24, 3, 88, 24, False, "RE", 1, 1),
            bneck_conf(24, 5, 96, 40, True, "HS", 2, 1),
            bneck_conf(40, 5, 240, 40, True, "HS", 1, 1),
            bneck_conf(40, 5, 120, 48, True, "HS", 1, 1),
            bneck_conf(48, 5, 288, 96, True, "HS", 2, 1),
        ]
        last_channel = adjust_channels(512)

        firstconv_output_channels = inverted_residual_setting[0].input_channels
        layers = [
            nn.Sequential(
                nn.Conv2d(in_chans, firstconv_output_channels, 3, 1, 1, bias=False),
                norm_layer(firstconv_output_channels),
                nn.Hardswish(inplace=True),
            )
        ]
        for cnf in inverted_residual_setting:
            layers.append(InvertedResidual(cnf, norm_layer))

        lastconv_input_channels = inverted_residual_setting[-1].out_channels
        lastconv_output_channels = 6 * lastconv_input_channels
        layers.append(
            nn.Sequential(
                nn.Conv2d(lastconv_input_channels, lastconv_output_channels, 1, bias=False),
                norm_layer(lastconv_output_channels),
                nn.Hardswish(inplace=True),
            )
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(lastconv_output_channels, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)
