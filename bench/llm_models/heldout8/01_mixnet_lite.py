# undefined: MixedConv2d, make_divisible
import torch
import torch.nn as nn
import torch.nn.functional as F


class MixBlock(nn.Module):
    """MixNet-style inverted bottleneck with mixed depthwise kernels."""

    def __init__(self, in_ch, out_ch, stride=1, expand=3, kernels=(3, 5, 7)):
        super().__init__()
        mid = make_divisible(in_ch * expand, 8)
        self.expand = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.SiLU(inplace=True),
        )
        self.dw = MixedConv2d(mid, mid, kernel_size=list(kernels), stride=stride, depthwise=True)
        self.bn = nn.BatchNorm2d(mid)
        self.act = nn.SiLU(inplace=True)
        self.project = nn.Sequential(
            nn.Conv2d(mid, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.use_res = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = self.expand(x)
        y = self.act(self.bn(self.dw(y)))
        y = self.project(y)
        return x + y if self.use_res else y


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        width = float(prm.get("width_mult", 1.0))
        dropout = float(prm.get("dropout", 0.2))
        in_ch = in_shape[1]
        num_classes = out_shape[0]

        stem = make_divisible(24 * width, 8)
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, stem, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.SiLU(inplace=True),
        )
        cfg = [(32, 2, (3, 5)), (32, 1, (3, 5)), (64, 2, (3, 5, 7)), (64, 1, (3, 5, 7)), (128, 2, (3, 5, 7, 9)), (128, 1, (3, 5))]
        layers = []
        c = stem
        for out_c, s, ks in cfg:
            oc = make_divisible(out_c * width, 8)
            layers.append(MixBlock(c, oc, stride=s, kernels=ks))
            c = oc
        self.features = nn.Sequential(*layers)
        head = make_divisible(256 * width, 8)
        self.head = nn.Sequential(
            nn.Conv2d(c, head, 1, bias=False),
            nn.BatchNorm2d(head),
            nn.SiLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(head, num_classes),
        )
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.features(x)
        return self.head(x)
