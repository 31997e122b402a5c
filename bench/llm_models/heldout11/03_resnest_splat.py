# undefined: SplitAttn, create_act_layer
import torch
import torch.nn as nn


class ResNestBottleneckLite(nn.Module):
    expansion = 2

    def __init__(self, inplanes, planes, stride=1, radix=2, cardinality=1, act_layer="relu"):
        super().__init__()
        group_width = planes * cardinality
        self.conv1 = nn.Conv2d(inplanes, group_width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(group_width)
        self.act1 = create_act_layer(act_layer, inplace=True)
        self.avd = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else nn.Identity()
        self.conv2 = SplitAttn(
            group_width, group_width, kernel_size=3, stride=1, padding=1,
            groups=cardinality, radix=radix, rd_ratio=0.25, norm_layer=nn.BatchNorm2d,
            act_layer=nn.ReLU,
        )
        self.conv3 = nn.Conv2d(group_width, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.act3 = create_act_layer(act_layer, inplace=True)
        out_chs = planes * self.expansion
        if stride != 1 or inplanes != out_chs:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(inplanes, out_chs, 1, bias=False),
                nn.BatchNorm2d(out_chs),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.avd(out)
        out = self.conv2(out)
        out = self.bn3(self.conv3(out))
        return self.act3(out + self.shortcut(x))


class Net(nn.Module):
    """ResNeSt-style network (timm resnest14d flavour) for 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        act_name = prm.get("act", "relu")
        stem_width = 32
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            create_act_layer("silu"),
            nn.Conv2d(stem_width, stem_width * 2, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width * 2),
            create_act_layer(act_name, inplace=True),
        )
        self.inplanes = stem_width * 2
        self.layer1 = self._make_layer(32, 1, 1, act_name)
        self.layer2 = self._make_layer(64, 2, 2, act_name)
        self.layer3 = self._make_layer(128, 2, 2, act_name)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.inplanes, out_shape[0])

    def _make_layer(self, planes, blocks, stride, act_name):
        layers = [ResNestBottleneckLite(self.inplanes, planes, stride, act_layer=act_name)]
        self.inplanes = planes * ResNestBottleneckLite.expansion
        for _ in range(1, blocks):
            layers.append(ResNestBottleneckLite(self.inplanes, planes, act_layer=act_name))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))
