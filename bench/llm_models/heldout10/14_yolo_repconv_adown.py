# undefined: RepConv, ADown
import torch
import torch.nn as nn


class RepStage(nn.Module):
    def __init__(self, c, n=2):
        super().__init__()
        self.m = nn.Sequential(*(RepConv(c, c, 3, 1, bn=True) for _ in range(n)))

    def forward(self, x):
        return x + self.m(x)


class Net(nn.Module):
    """YOLOv9-ish classifier: RepConv stages separated by ADown downsampling."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.stem = RepConv(in_shape[1], 32, k=3, s=1)
        self.stage1 = RepStage(32, 1)
        self.down1 = ADown(32, 64)        # 16x16
        self.stage2 = RepStage(64, 2)
        self.down2 = ADown(64, 128)       # 8x8
        self.stage3 = RepStage(128, 2)
        self.down3 = ADown(128, 256)      # 4x4
        self.stage4 = RepStage(256, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, out_shape[0])

    def fuse(self):
        for m in self.modules():
            if isinstance(m, RepConv):
                m.fuse_convs()
        return self

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.stage2(self.down1(x))
        x = self.stage3(self.down2(x))
        x = self.stage4(self.down3(x))
        return self.fc(torch.flatten(self.pool(x), 1))
