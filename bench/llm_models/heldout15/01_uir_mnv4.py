# undefined: UniversalInvertedResidual
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """MobileNetV4-style CIFAR-10 classifier built from Universal Inverted Residual (UIR) blocks.

    Each stage mixes the UIR variants from the MNv4 paper:
      - ExtraDW   (start dw + mid dw)
      - IB        (mid dw only)
      - ConvNeXt  (start dw only)
      - FFN       (no dw at all)
    """

    def __init__(self, num_classes=10, stem_width=24, drop_rate=0.2, drop_path=0.05):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        )

        # (out_chs, dw_start, dw_mid, dw_end, stride, exp_ratio)
        arch = [
            (32, 3, 3, 0, 2, 3.0),   # ExtraDW, 32 -> 16
            (32, 0, 3, 0, 1, 2.0),   # IB
            (56, 3, 5, 0, 2, 4.0),   # ExtraDW, 16 -> 8
            (56, 3, 0, 0, 1, 2.0),   # ConvNeXt-like
            (56, 0, 0, 0, 1, 2.0),   # FFN
            (96, 5, 3, 0, 2, 4.0),   # ExtraDW, 8 -> 4
            (96, 0, 3, 0, 1, 3.0),   # IB
        ]
        blocks = []
        in_chs = stem_width
        n = len(arch)
        for i, (out_chs, k_start, k_mid, k_end, stride, exp) in enumerate(arch):
            blocks.append(
                UniversalInvertedResidual(
                    in_chs,
                    out_chs,
                    dw_kernel_size_start=k_start,
                    dw_kernel_size_mid=k_mid,
                    dw_kernel_size_end=k_end,
                    stride=stride,
                    exp_ratio=exp,
                    act_layer=nn.ReLU,
                    norm_layer=nn.BatchNorm2d,
                    drop_path_rate=drop_path * i / max(n - 1, 1),
                    layer_scale_init_value=1e-5,
                )
            )
            in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)

        self.head = nn.Sequential(
            nn.Conv2d(in_chs, 256, kernel_size=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(drop_rate),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        return self.head(x)
