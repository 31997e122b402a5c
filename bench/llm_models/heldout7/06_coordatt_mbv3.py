# undefined: CoordAtt, conv_3x3_bn, h_swish
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        # k, expand, out, use_ca, use_hs, stride
        self.cfgs = [
            [3, 16, 16, 0, 0, 1],
            [3, 64, 24, 0, 0, 2],
            [3, 72, 24, 0, 0, 1],
            [5, 72, 40, 1, 0, 2],
            [5, 120, 40, 1, 0, 1],
            [3, 240, 80, 0, 1, 2],
            [3, 200, 80, 0, 1, 1],
            [3, 480, 112, 1, 1, 1],
            [5, 672, 160, 1, 1, 2],
        ]
        input_channel = 16
        self.stem = conv_3x3_bn(in_channels, input_channel, 1)

        self.layers = nn.ModuleList()
        self.use_res = []
        for k, exp, c, use_ca, use_hs, s in self.cfgs:
            act = h_swish() if use_hs else nn.ReLU(inplace=True)
            layers = []
            if exp != input_channel:
                layers += [
                    nn.Conv2d(input_channel, exp, 1, 1, 0, bias=False),
                    nn.BatchNorm2d(exp),
                    h_swish() if use_hs else nn.ReLU(inplace=True),
                ]
            layers += [
                nn.Conv2d(exp, exp, k, s, (k - 1) // 2, groups=exp, bias=False),
                nn.BatchNorm2d(exp),
                act,
            ]
            if use_ca:
                layers.append(CoordAtt(exp, exp, reduction=32))
            layers += [
                nn.Conv2d(exp, c, 1, 1, 0, bias=False),
                nn.BatchNorm2d(c),
            ]
            self.layers.append(nn.Sequential(*layers))
            self.use_res.append(s == 1 and input_channel == c)
            input_channel = c

        self.conv = nn.Sequential(
            nn.Conv2d(input_channel, 576, 1, 1, 0, bias=False),
            nn.BatchNorm2d(576),
            h_swish(),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Linear(576, 1024),
            h_swish(),
            nn.Dropout(prm.get("dropout", 0.2)),
            nn.Linear(1024, num_classes),
        )
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        for layer, res in zip(self.layers, self.use_res):
            x = x + layer(x) if res else layer(x)
        x = self.conv(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)
