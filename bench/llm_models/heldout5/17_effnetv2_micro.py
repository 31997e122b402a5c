# undefined: FusedMBConv, MBConv
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        # (block_type, expand_ratio, out_channels, num_layers, stride)
        cfg = [
            ("fused", 1, 24, 2, 1),
            ("fused", 4, 48, 2, 2),
            ("fused", 4, 64, 2, 2),
            ("mbconv", 4, 128, 3, 2),
            ("mbconv", 6, 160, 3, 1),
        ]
        stem_ch = 24
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], stem_ch, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem_ch),
            nn.SiLU(inplace=True),
        )
        total = sum(c[3] for c in cfg)
        idx = 0
        blocks = []
        in_ch = stem_ch
        for block_type, e, c, n, s in cfg:
            for i in range(n):
                stride = s if i == 0 else 1
                dp = drop_path_rate * idx / total
                if block_type == "fused":
                    blocks.append(FusedMBConv(in_ch, c, stride=stride, expand_ratio=e, drop_path=dp))
                else:
                    blocks.append(MBConv(in_ch, c, stride=stride, expand_ratio=e, se_ratio=0.25, drop_path=dp))
                in_ch = c
                idx += 1
        self.blocks = nn.Sequential(*blocks)

        head_ch = 640
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, head_ch, 1, bias=False),
            nn.BatchNorm2d(head_ch),
            nn.SiLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm.get("dropout", 0.2)),
            nn.Linear(head_ch, out_shape[0]),
        )
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        return self.head(x)
