# undefined: Conv, C3, SPPF
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        # [module, args] -- YOLOv5n-like backbone (c2 first, as in the yaml files)
        backbone = [
            [Conv, [16, 3, 1]],
            [Conv, [32, 3, 2]],
            [C3, [32, 1]],
            [Conv, [64, 3, 2]],
            [C3, [64, 2]],
            [Conv, [128, 3, 2]],
            [C3, [128, 3]],
            [Conv, [256, 3, 2]],
            [C3, [256, 1]],
            [SPPF, [256, 5]],
        ]
        layers = []
        c1 = in_channels
        for m, args in backbone:
            layers.append(m(c1, *args))
            c1 = args[0]
        self.model = nn.Sequential(*layers)

        # classification head (YOLOv5 Classify)
        c_ = 640
        self.conv = Conv(c1, c_, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=prm.get("dropout", 0.0), inplace=True)
        self.linear = nn.Linear(c_, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.model(x)
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))
