# undefined: MBConv, Swish
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        dropout = prm.get("dropout", 0.2)
        # expand_ratio, kernel_size, stride, out_chs, repeats
        blocks_args = [
            (1, 3, 1, 16, 1),
            (6, 3, 1, 24, 2),
            (6, 5, 2, 40, 2),
            (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3),
            (6, 5, 2, 192, 3),
            (6, 3, 1, 320, 1),
        ]
        stem_chs = 32
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], stem_chs, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_chs),
            Swish(),
        )

        total_blocks = sum(b[-1] for b in blocks_args)
        block_idx = 0
        layers = []
        in_chs = stem_chs
        for expand_ratio, k, s, out_chs, repeats in blocks_args:
            for i in range(repeats):
                layers.append(
                    MBConv(
                        in_chs,
                        out_chs,
                        kernel_size=k,
                        stride=s if i == 0 else 1,
                        expand_ratio=expand_ratio,
                        se_ratio=0.25,
                        drop_path_rate=drop_path_rate * block_idx / total_blocks,
                    )
                )
                in_chs = out_chs
                block_idx += 1
        self.blocks = nn.Sequential(*layers)

        head_chs = 1280
        self.head = nn.Sequential(
            nn.Conv2d(in_chs, head_chs, 1, bias=False),
            nn.BatchNorm2d(head_chs),
            Swish(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(head_chs, out_shape[0])
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.head(x)
        x = self.pool(x).flatten(1)
        x = self.dropout(x)
        return self.fc(x)
