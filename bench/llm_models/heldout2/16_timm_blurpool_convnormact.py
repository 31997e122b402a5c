import torch
import torch.nn as nn


class Net(nn.Module):
    """Plain conv net built from timm ConvNormAct layers with anti-aliased (blur) downsampling."""

    def __init__(self, num_classes=10, width_mult=0.75, drop_rate=0.2):
        super().__init__()
        chs = [make_divisible(c * width_mult) for c in (32, 64, 128, 256)]
        layers = [ConvNormAct(3, chs[0], kernel_size=3, stride=1, act_layer=nn.SiLU)]
        in_ch = chs[0]
        for c in chs[1:]:
            layers += [
                ConvNormAct(in_ch, c, kernel_size=3, act_layer=nn.SiLU),
                ConvNormAct(c, c, kernel_size=3, groups=c, act_layer=nn.SiLU),
                BlurPool2d(c, filt_size=3, stride=2),
            ]
            in_ch = c
        self.num_features = make_divisible(512 * width_mult)
        layers.append(ConvNormAct(in_ch, self.num_features, kernel_size=1, act_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x).flatten(1)
        return self.classifier(self.drop(x))
