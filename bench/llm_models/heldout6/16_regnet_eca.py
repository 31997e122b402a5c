# undefined: ResBottleneckBlock, eca_layer
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        stem_width = 32
        # RegNetX-200MF-like widths/depths scaled for CIFAR
        widths = [24, 56, 152, 368]
        depths = [1, 1, 4, 7]
        strides = [1, 2, 2, 2]
        group_width = 8
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        )
        stages = []
        w_in = stem_width
        for w_out, d, s in zip(widths, depths, strides):
            blocks = []
            for i in range(d):
                blocks.append(
                    ResBottleneckBlock(
                        w_in,
                        w_out,
                        stride=s if i == 0 else 1,
                        group_width=group_width,
                        bottleneck_multiplier=1.0,
                    )
                )
                w_in = w_out
            blocks.append(eca_layer(w_out, k_size=3))
            stages.append(nn.Sequential(*blocks))
        self.trunk = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                nn.init.zeros_(m.bias)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.trunk(x)
        x = self.avgpool(x)
        x = x.flatten(start_dim=1)
        return self.fc(x)
