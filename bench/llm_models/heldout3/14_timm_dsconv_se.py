# undefined: create_conv2d, DepthwiseSeparableConv, SqueezeExcite
import torch
import torch.nn as nn


class Net(nn.Module):
    """MobileNetV1/EfficientNet-flavoured stack of depthwise-separable convs with SE gating."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_chs = in_shape[1]
        num_classes = out_shape[0]
        drop_rate = float(prm.get("dropout", 0.2))
        drop_path_rate = float(prm.get("drop_path", 0.05))

        stem_chs = 32
        self.conv_stem = create_conv2d(in_chs, stem_chs, 3, stride=1)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = nn.ReLU(inplace=True)

        # out_chs, stride, use_se
        arch = [
            (64, 1, False),
            (128, 2, False),
            (128, 1, True),
            (256, 2, False),
            (256, 1, True),
            (512, 2, False),
            (512, 1, True),
            (512, 1, True),
        ]
        layers = []
        c = stem_chs
        for i, (out_chs, stride, use_se) in enumerate(arch):
            dpr = drop_path_rate * i / (len(arch) - 1)
            layers.append(DepthwiseSeparableConv(c, out_chs, 3, stride, drop_path_rate=dpr))
            if use_se:
                layers.append(SqueezeExcite(out_chs, rd_ratio=0.25))
            c = out_chs
        self.blocks = nn.Sequential(*layers)

        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.global_pool(x).flatten(1)
        return self.classifier(self.drop(x))
