# undefined: CoordAtt, DepthwiseSeparableConv, h_swish
import torch
import torch.nn as nn


class CABlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = DepthwiseSeparableConv(in_ch, out_ch, stride=stride)
        self.ca = CoordAtt(out_ch, out_ch, reduction=32)
        self.use_res = stride == 1 and in_ch == out_ch

    def forward(self, x):
        out = self.ca(self.conv(x))
        if self.use_res:
            out = out + x
        return out


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            h_swish(),
        )
        # (in, out, stride)
        cfg = [
            (32, 64, 1),
            (64, 64, 1),
            (64, 128, 2),
            (128, 128, 1),
            (128, 256, 2),
            (256, 256, 1),
            (256, 256, 1),
            (256, 512, 2),
            (512, 512, 1),
        ]
        self.blocks = nn.Sequential(*[CABlock(i, o, s) for i, o, s in cfg])
        self.head = nn.Sequential(
            nn.Conv2d(512, 1024, 1, bias=False),
            nn.BatchNorm2d(1024),
            h_swish(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm.get("dropout", 0.2)),
            nn.Linear(1024, out_shape[0]),
        )
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        return self.head(x)
