# undefined: get_padding, to_2tuple
import torch
import torch.nn as nn


class ConvBnAct(nn.Module):
    """Conv with 'same'-style symmetric padding computed from kernel/stride/dilation."""

    def __init__(self, in_chs, out_chs, kernel_size=3, stride=1, dilation=1, groups=1, act=True):
        super().__init__()
        kernel_size = to_2tuple(kernel_size)
        dilation = to_2tuple(dilation)
        padding = get_padding(kernel_size, stride, dilation)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = nn.GELU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class FactorizedBlock(nn.Module):
    """Inception-v3 style factorized 1xk / kx1 convs plus a dilated branch."""

    def __init__(self, chs, k=5, dilation=2):
        super().__init__()
        self.b1 = nn.Sequential(ConvBnAct(chs, chs // 2, (1, k)), ConvBnAct(chs // 2, chs // 2, (k, 1)))
        self.b2 = ConvBnAct(chs, chs // 2, 3, dilation=dilation)
        self.proj = ConvBnAct(chs, chs, 1, act=False)
        self.act = nn.GELU()

    def forward(self, x):
        y = torch.cat([self.b1(x), self.b2(x)], dim=1)
        return self.act(x + self.proj(y))


class Net(nn.Module):
    def __init__(self, num_classes=10, img_size=32, patch_size=2, dims=(48, 96, 160)):
        super().__init__()
        img_size = to_2tuple(img_size)
        patch_size = to_2tuple(patch_size)
        self.grid_size = (img_size[0] // patch_size[0], img_size[1] // patch_size[1])
        self.stem = nn.Sequential(
            nn.Conv2d(3, dims[0], kernel_size=patch_size, stride=patch_size),
            nn.BatchNorm2d(dims[0]),
        )
        stages = []
        for i, d in enumerate(dims):
            if i > 0:
                stages.append(ConvBnAct(dims[i - 1], d, kernel_size=3, stride=2))
            stages.append(FactorizedBlock(d, k=5, dilation=2))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))
