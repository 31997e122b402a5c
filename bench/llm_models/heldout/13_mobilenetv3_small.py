import torch
import torch.nn as nn


class MBBlock(nn.Module):
    def __init__(self, in_ch, exp_ch, out_ch, kernel, stride, use_se, use_hs):
        super().__init__()
        act = nn.Hardswish if use_hs else nn.ReLU
        self.use_res = stride == 1 and in_ch == out_ch
        layers = []
        if exp_ch != in_ch:
            layers.append(Conv2dNormActivation(in_ch, exp_ch, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=act))
        layers.append(Conv2dNormActivation(exp_ch, exp_ch, kernel_size=kernel, stride=stride, groups=exp_ch,
                                           norm_layer=nn.BatchNorm2d, activation_layer=act))
        if use_se:
            layers.append(SqueezeExcitation(exp_ch, _make_divisible(exp_ch // 4, 8), scale_activation=nn.Hardsigmoid))
        layers.append(Conv2dNormActivation(exp_ch, out_ch, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_res else out


class Net(nn.Module):
    def __init__(self, num_classes=10, width_mult=1.0):
        super().__init__()
        # k, exp, out, se, hs, stride  (MobileNetV3-Small, strides adapted to 32x32)
        cfg = [[3, 16, 16, True, False, 1], [3, 72, 24, False, False, 2], [3, 88, 24, False, False, 1],
               [5, 96, 40, True, True, 2], [5, 240, 40, True, True, 1], [5, 240, 40, True, True, 1],
               [5, 120, 48, True, True, 1], [5, 144, 48, True, True, 1], [5, 288, 96, True, True, 2],
               [5, 576, 96, True, True, 1], [5, 576, 96, True, True, 1]]
        in_ch = _make_divisible(16 * width_mult, 8)
        layers = [Conv2dNormActivation(3, in_ch, kernel_size=3, stride=1, norm_layer=nn.BatchNorm2d,
                                       activation_layer=nn.Hardswish)]
        for k, exp, out, se, hs, s in cfg:
            out_ch = _make_divisible(out * width_mult, 8)
            layers.append(MBBlock(in_ch, _make_divisible(exp * width_mult, 8), out_ch, k, s, se, hs))
            in_ch = out_ch
        last_conv = 6 * in_ch
        layers.append(Conv2dNormActivation(in_ch, last_conv, kernel_size=1, norm_layer=nn.BatchNorm2d,
                                           activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, 1024),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=0.2, inplace=True),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
