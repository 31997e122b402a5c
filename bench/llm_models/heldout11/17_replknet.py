# undefined: RepLKBlock, ConvFFN
import torch
import torch.nn as nn


def cbr_layer(cin, cout, k, s, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class RepLKStage(nn.Module):
    def __init__(self, channels, num_blocks, lk_size, small_kernel, dw_ratio=1.0, ffn_ratio=4):
        super().__init__()
        blocks = []
        for _ in range(num_blocks):
            blocks.append(RepLKBlock(in_channels=channels, dw_channels=int(channels * dw_ratio),
                                     block_lk_size=lk_size, small_kernel=small_kernel, drop_path=0.0,
                                     small_kernel_merged=False))
            blocks.append(ConvFFN(in_channels=channels, internal_channels=int(channels * ffn_ratio),
                                  out_channels=channels, drop_path=0.0))
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.norm(self.blocks(x))


class Net(nn.Module):
    """RepLKNet-lite: 31x31 kernels scaled down to 13/9/7 for 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        ch = (48, 96, 192)
        self.stem = nn.Sequential(
            cbr_layer(in_shape[1], ch[0], 3, 1),
            cbr_layer(ch[0], ch[0], 3, 2, groups=ch[0]),   # 16x16
            cbr_layer(ch[0], ch[0], 1, 1),
        )
        self.stage1 = RepLKStage(ch[0], 1, lk_size=13, small_kernel=5)
        self.trans1 = nn.Sequential(cbr_layer(ch[0], ch[1], 1, 1), cbr_layer(ch[1], ch[1], 3, 2, groups=ch[1]))
        self.stage2 = RepLKStage(ch[1], 1, lk_size=9, small_kernel=5)
        self.trans2 = nn.Sequential(cbr_layer(ch[1], ch[2], 1, 1), cbr_layer(ch[2], ch[2], 3, 2, groups=ch[2]))
        self.stage3 = RepLKStage(ch[2], 1, lk_size=7, small_kernel=3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(ch[2], out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.stage2(self.trans1(x))
        x = self.stage3(self.trans2(x))
        return self.head(torch.flatten(self.avgpool(x), 1))
