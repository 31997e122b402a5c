# undefined: Conv2dStaticSamePadding, MemoryEfficientSwish, drop_connect
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class MBConvSame(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, stride, expand_ratio, image_size, se_ratio=0.25, drop_connect_rate=0.0):
        super().__init__()
        mid = in_ch * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = Conv2dStaticSamePadding(in_ch, mid, kernel_size=1, bias=False, image_size=image_size)
            self._bn0 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        self._depthwise_conv = Conv2dStaticSamePadding(mid, mid, kernel_size=kernel_size, stride=stride,
                                                      groups=mid, bias=False, image_size=image_size)
        self._bn1 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        out_size = int(math.ceil(image_size / stride))
        sq = max(1, int(in_ch * se_ratio))
        self._se_reduce = Conv2dStaticSamePadding(mid, sq, kernel_size=1, image_size=(1, 1))
        self._se_expand = Conv2dStaticSamePadding(sq, mid, kernel_size=1, image_size=(1, 1))
        self._project_conv = Conv2dStaticSamePadding(mid, out_ch, kernel_size=1, bias=False, image_size=out_size)
        self._bn2 = nn.BatchNorm2d(out_ch, momentum=0.01, eps=1e-3)
        self._swish = MemoryEfficientSwish()
        self.id_skip = stride == 1 and in_ch == out_ch
        self.drop_connect_rate = drop_connect_rate

    def forward(self, inputs):
        x = inputs
        if self.has_expand:
            x = self._swish(self._bn0(self._expand_conv(x)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        x_sq = F.adaptive_avg_pool2d(x, 1)
        x_sq = self._se_expand(self._swish(self._se_reduce(x_sq)))
        x = torch.sigmoid(x_sq) * x
        x = self._bn2(self._project_conv(x))
        if self.id_skip:
            if self.drop_connect_rate:
                x = drop_connect(x, p=self.drop_connect_rate, training=self.training)
            x = x + inputs
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        image_size = in_shape[2]
        dc = float(prm.get("drop_connect", 0.2))
        dropout = float(prm.get("dropout", 0.2))

        self._conv_stem = Conv2dStaticSamePadding(in_ch, 32, kernel_size=3, stride=1, bias=False, image_size=image_size)
        self._bn0 = nn.BatchNorm2d(32, momentum=0.01, eps=1e-3)
        # (kernel, stride, expand, out, repeats)
        cfg = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 2), (5, 1, 6, 112, 1)]
        total = sum(c[4] for c in cfg)
        blocks = []
        c_in = 32
        size = image_size
        idx = 0
        for k, s, e, c_out, r in cfg:
            for i in range(r):
                stride = s if i == 0 else 1
                blocks.append(MBConvSame(c_in, c_out, k, stride, e, size, drop_connect_rate=dc * idx / total))
                size = int(math.ceil(size / stride))
                c_in = c_out
                idx += 1
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dStaticSamePadding(c_in, 640, kernel_size=1, bias=False, image_size=size)
        self._bn1 = nn.BatchNorm2d(640, momentum=0.01, eps=1e-3)
        self._swish = MemoryEfficientSwish()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(640, num_classes)
        self.to(device)

    def forward(self, x):
        x = self._swish(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._swish(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(start_dim=1)
        return self._fc(self._dropout(x))
