# undefined: DoubleConv, Down, Up
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Compact U-Net (milesial/Pytorch-UNet parts). The per-pixel class map is
    global-average pooled to produce image-level logits (weakly supervised setup)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        n_channels = in_shape[1]
        n_classes = out_shape[0]
        bilinear = prm.get("bilinear", True)
        c = prm.get("base_channels", 16)

        self.inc = DoubleConv(n_channels, c)
        self.down1 = Down(c, 2 * c)
        self.down2 = Down(2 * c, 4 * c)
        factor = 2 if bilinear else 1
        self.down3 = Down(4 * c, 8 * c // factor)
        self.up1 = Up(8 * c, 4 * c // factor, bilinear)
        self.up2 = Up(4 * c, 2 * c // factor, bilinear)
        self.up3 = Up(2 * c, c, bilinear)
        self.outc = nn.Conv2d(c, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(x4, x3)
        x = self.up2(x, x2)
        x = self.up3(x, x1)
        logits = self.outc(x)             # (N, n_classes, H, W)
        return F.adaptive_avg_pool2d(logits, 1).flatten(1)
