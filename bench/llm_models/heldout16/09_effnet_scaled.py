# undefined: round_filters, round_repeats
import collections
import torch
import torch.nn as nn

GlobalParams = collections.namedtuple('GlobalParams', [
    'width_coefficient', 'depth_coefficient', 'depth_divisor', 'min_depth'])


class MBConvBlock(nn.Module):
    def __init__(self, in_ch, out_ch, expand, k, stride, se_ratio=0.25):
        super().__init__()
        mid = in_ch * expand
        self.use_res = stride == 1 and in_ch == out_ch
        self.expand = nn.Sequential(nn.Conv2d(in_ch, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU()) \
            if expand != 1 else nn.Identity()
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
                                nn.BatchNorm2d(mid), nn.SiLU())
        sq = max(1, int(in_ch * se_ratio))
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(mid, sq, 1), nn.SiLU(),
                                nn.Conv2d(sq, mid, 1), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(mid, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        y = self.dw(self.expand(x))
        y = self.project(y * self.se(y))
        return x + y if self.use_res else y


class ScaledEfficientNet(nn.Module):
    # (expand, kernel, stride, in, out, repeats) - trimmed B0 table for 32x32
    BLOCKS = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 1)]

    def __init__(self, num_classes=10, width_mult=0.75, depth_mult=1.2):
        super().__init__()
        gp = GlobalParams(width_coefficient=width_mult, depth_coefficient=depth_mult,
                          depth_divisor=8, min_depth=None)
        stem_ch = round_filters(32, gp)
        self.stem = nn.Sequential(nn.Conv2d(3, stem_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_ch), nn.SiLU())
        blocks = []
        for e, k, s, cin, cout, r in self.BLOCKS:
            cin, cout = round_filters(cin, gp), round_filters(cout, gp)
            for i in range(round_repeats(r, gp)):
                blocks.append(MBConvBlock(cin if i == 0 else cout, cout, e, k, s if i == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        head_ch = round_filters(320, gp)
        self.head = nn.Sequential(nn.Conv2d(cout, head_ch, 1, bias=False), nn.BatchNorm2d(head_ch), nn.SiLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(head_ch, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
