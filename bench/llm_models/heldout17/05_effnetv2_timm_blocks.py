# undefined: DepthwiseSeparableConv, EdgeResidual
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Tiny EfficientNetV2-style net: fused-MBConv (EdgeResidual) early, DS conv late."""

    # (block, out_chs, exp_ratio, stride, repeats)
    ARCH = [
        ("ds", 16, 1.0, 1, 1),
        ("er", 24, 4.0, 2, 2),
        ("er", 40, 4.0, 2, 2),
        ("ds", 80, 1.0, 2, 1),
        ("ds", 80, 1.0, 1, 1),
    ]

    def __init__(self, num_classes=10, stem_chs=24, head_chs=256, drop_rate=0.2):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, stem_chs, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = nn.SiLU(inplace=True)
        blocks, in_chs = [], stem_chs
        for kind, out_chs, exp, stride, reps in self.ARCH:
            for i in range(reps):
                s = stride if i == 0 else 1
                if kind == "er":
                    blocks.append(EdgeResidual(in_chs, out_chs, exp_kernel_size=3, stride=s,
                                               exp_ratio=exp, act_layer=nn.SiLU, drop_path_rate=0.))
                else:
                    blocks.append(DepthwiseSeparableConv(in_chs, out_chs, dw_kernel_size=3, stride=s,
                                                         act_layer=nn.SiLU, pw_act=False))
                in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Conv2d(in_chs, head_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(head_chs)
        self.act2 = nn.SiLU(inplace=True)
        self.drop_rate = drop_rate
        self.classifier = nn.Linear(head_chs, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.act2(self.bn2(self.conv_head(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)
