# undefined: SpaceToDepth, FilterResponseNormTlu2d, round_channels
import torch
import torch.nn as nn


class FRNBlock(nn.Module):
    def __init__(self, in_chs, out_chs, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False)
        self.frn1 = FilterResponseNormTlu2d(out_chs)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False)
        self.frn2 = FilterResponseNormTlu2d(out_chs, apply_act=False)
        if stride != 1 or in_chs != out_chs:
            self.down = nn.Sequential(
                nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False),
                FilterResponseNormTlu2d(out_chs, apply_act=False),
            )
        else:
            self.down = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.frn2(self.conv2(self.frn1(self.conv1(x))))
        return self.act(y + self.down(x))


class Net(nn.Module):
    """TResNet-flavoured CIFAR net: space-to-depth stem + FRN/TLU residual blocks."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        width = prm.get("width_mult", 1.0)
        num_classes = out_shape[0]
        c1 = round_channels(64, width)
        c2 = round_channels(128, width)
        c3 = round_channels(256, multiplier=width, divisor=8)
        self.s2d = SpaceToDepth(block_size=4)  # 32x32 -> 8x8, 3 -> 48 channels
        self.stem = nn.Conv2d(in_shape[1] * 16, c1, kernel_size=3, padding=1, bias=False)
        self.stem_frn = FilterResponseNormTlu2d(c1)
        self.layer1 = nn.Sequential(FRNBlock(c1, c1), FRNBlock(c1, c1))
        self.layer2 = nn.Sequential(FRNBlock(c1, c2, stride=2), FRNBlock(c2, c2))
        self.layer3 = nn.Sequential(FRNBlock(c2, c3, stride=1), FRNBlock(c3, c3))
        self.head = nn.Linear(c3, num_classes)

    def forward(self, x):
        x = self.s2d(x)
        x = self.stem_frn(self.stem(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = x.mean(dim=(2, 3))
        return self.head(x)
