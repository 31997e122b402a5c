# undefined: FusedMBConv, MBConv, make_divisible
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        width_mult = prm.get("width_mult", 1.0)
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        dropout = prm.get("dropout", 0.2)

        # (block_type, expand_ratio, out_channels, num_layers, stride)
        cfg = [
            ("fused", 1, 24, 1, 1),
            ("fused", 4, 32, 2, 2),
            ("fused", 4, 48, 2, 2),
            ("mbconv", 4, 96, 3, 2),
            ("mbconv", 6, 128, 2, 1),
        ]

        stem_channels = make_divisible(24 * width_mult, 8)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.SiLU(inplace=True),
        )

        total_blocks = sum(c[3] for c in cfg)
        block_idx = 0
        blocks = []
        in_ch = stem_channels
        for block_type, expand_ratio, c, n, s in cfg:
            out_ch = make_divisible(c * width_mult, 8)
            for i in range(n):
                stride = s if i == 0 else 1
                dp = drop_path_rate * block_idx / total_blocks
                if block_type == "fused":
                    blocks.append(FusedMBConv(in_ch, out_ch, stride=stride, expand_ratio=expand_ratio, drop_path=dp))
                else:
                    blocks.append(MBConv(in_ch, out_ch, stride=stride, expand_ratio=expand_ratio,
                                         se_ratio=0.25, drop_path=dp))
                in_ch = out_ch
                block_idx += 1
        self.blocks = nn.Sequential(*blocks)

        head_channels = make_divisible(640 * width_mult, 8)
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, head_channels, 1, bias=False),
            nn.BatchNorm2d(head_channels),
            nn.SiLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(head_channels, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        return self.head(x)
