# undefined: MBConv, Swish
import torch
import torch.nn as nn


class Net(nn.Module):
    """EfficientNet-B0-like network scaled down for 32x32 CIFAR images."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))
        drop_connect = float(prm.get("drop_path", 0.2))

        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, 32, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(32, momentum=0.01, eps=1e-3),
            Swish(),
        )

        # expand_ratio, out_channels, repeats, stride, kernel_size
        settings = [
            (1, 16, 1, 1, 3),
            (6, 24, 2, 1, 3),
            (6, 40, 2, 2, 5),
            (6, 80, 3, 2, 3),
            (6, 112, 2, 1, 5),
            (6, 192, 2, 2, 5),
        ]
        total = sum(s[2] for s in settings)
        blocks = []
        c_in = 32
        idx = 0
        for t, c, n, s, k in settings:
            for i in range(n):
                blocks.append(
                    MBConv(
                        in_channels=c_in,
                        out_channels=c,
                        kernel_size=k,
                        stride=s if i == 0 else 1,
                        expand_ratio=t,
                        se_ratio=0.25,
                        drop_path=drop_connect * idx / total,
                    )
                )
                c_in = c
                idx += 1
        self.blocks = nn.Sequential(*blocks)

        self.head = nn.Sequential(
            nn.Conv2d(c_in, 640, kernel_size=1, bias=False),
            nn.BatchNorm2d(640, momentum=0.01, eps=1e-3),
            Swish(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(640, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        return self.head(x)
