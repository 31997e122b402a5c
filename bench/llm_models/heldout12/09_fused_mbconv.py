# undefined: Conv2dNormActivation, stochastic_depth
import torch
import torch.nn as nn
import torch.nn.functional as F


class FusedMBConvBlock(nn.Module):
    """EfficientNetV2 Fused-MBConv: 3x3 expand conv -> 1x1 project conv, with stochastic depth."""

    def __init__(self, in_ch, out_ch, expand_ratio, stride, sd_prob):
        super().__init__()
        self.use_res_connect = stride == 1 and in_ch == out_ch
        self.sd_prob = sd_prob
        hidden = in_ch * expand_ratio
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(in_ch, hidden, kernel_size=3, stride=stride,
                                               norm_layer=nn.BatchNorm2d, activation_layer=nn.SiLU))
            layers.append(Conv2dNormActivation(hidden, out_ch, kernel_size=1,
                                               norm_layer=nn.BatchNorm2d, activation_layer=None))
        else:
            layers.append(Conv2dNormActivation(in_ch, out_ch, kernel_size=3, stride=stride,
                                               norm_layer=nn.BatchNorm2d, activation_layer=nn.SiLU))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = stochastic_depth(out, self.sd_prob, "row", self.training)
            out = out + x
        return out


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        # expand_ratio, stride, in, out, num_layers
        setting = [
            (1, 1, 24, 24, 2),
            (4, 2, 24, 48, 3),
            (4, 2, 48, 64, 3),
            (4, 2, 64, 128, 2),
        ]
        total_blocks = sum(s[-1] for s in setting)
        layers = [Conv2dNormActivation(in_shape[1], 24, kernel_size=3, stride=1,
                                       norm_layer=nn.BatchNorm2d, activation_layer=nn.SiLU)]
        block_id = 0
        for expand, stride, c_in, c_out, n in setting:
            for i in range(n):
                sd_prob = 0.2 * float(block_id) / total_blocks
                layers.append(FusedMBConvBlock(c_in if i == 0 else c_out, c_out, expand,
                                               stride if i == 0 else 1, sd_prob))
                block_id += 1
        layers.append(Conv2dNormActivation(128, 512, kernel_size=1,
                                           norm_layer=nn.BatchNorm2d, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=prm.get('dropout', 0.2), inplace=True),
            nn.Linear(512, out_shape[0]),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)
