# undefined: MBConv, make_divisible
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        width_mult = prm.get("width_mult", 1.0)
        depth_mult = prm.get("depth_mult", 1.0)
        drop_connect_rate = prm.get("drop_connect_rate", 0.1)

        # expand_ratio, channels, repeats, stride, kernel_size
        blocks_args = [
            (1, 16, 1, 1, 3),
            (6, 24, 2, 2, 3),
            (6, 40, 2, 2, 5),
            (6, 80, 3, 2, 3),
            (6, 112, 2, 1, 5),
        ]
        stem_ch = make_divisible(32 * width_mult, 8)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_ch, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_ch),
            nn.SiLU(inplace=True),
        )
        total_blocks = sum(int(math.ceil(r * depth_mult)) for _, _, r, _, _ in blocks_args)
        blocks = []
        in_ch = stem_ch
        idx = 0
        for expand_ratio, c, r, s, k in blocks_args:
            out_ch = make_divisible(c * width_mult, 8)
            for i in range(int(math.ceil(r * depth_mult))):
                blocks.append(
                    MBConv(
                        in_channels=in_ch,
                        out_channels=out_ch,
                        kernel_size=k,
                        stride=s if i == 0 else 1,
                        expand_ratio=expand_ratio,
                        se_ratio=0.25,
                        drop_connect_rate=drop_connect_rate * idx / total_blocks,
                    )
                )
                in_ch = out_ch
                idx += 1
        self.blocks = nn.Sequential(*blocks)
        head_ch = make_divisible(640 * width_mult, 8)
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, head_ch, 1, bias=False),
            nn.BatchNorm2d(head_ch),
            nn.SiLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(head_ch, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.head(x)
        x = self.pool(x).flatten(1)
        x = self.dropout(x)
        return self.fc(x)
