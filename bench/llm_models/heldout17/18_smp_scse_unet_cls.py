# undefined: Conv2dReLU, SCSEModule
import torch
import torch.nn as nn
import torch.nn.functional as F


class DecoderBlockSCSE(nn.Module):
    def __init__(self, in_channels, skip_channels, out_channels, use_batchnorm=True):
        super().__init__()
        self.conv1 = Conv2dReLU(in_channels + skip_channels, out_channels, kernel_size=3,
                                padding=1, use_batchnorm=use_batchnorm)
        self.attention1 = SCSEModule(in_channels=in_channels + skip_channels, reduction=16)
        self.conv2 = Conv2dReLU(out_channels, out_channels, kernel_size=3, padding=1,
                                use_batchnorm=use_batchnorm)
        self.attention2 = SCSEModule(in_channels=out_channels, reduction=16)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
            x = self.attention1(x)
        x = self.conv1(x)
        x = self.conv2(x)
        return self.attention2(x)


class Net(nn.Module):
    """Small U-Net (smp-style decoder with scSE attention) whose decoder features feed a classifier."""

    def __init__(self, num_classes=10, enc_channels=(32, 64, 128), dec_channels=(64, 32)):
        super().__init__()
        c1, c2, c3 = enc_channels
        self.enc1 = nn.Sequential(Conv2dReLU(3, c1, 3, padding=1), Conv2dReLU(c1, c1, 3, padding=1))
        self.enc2 = nn.Sequential(Conv2dReLU(c1, c2, 3, padding=1, stride=2), Conv2dReLU(c2, c2, 3, padding=1))
        self.enc3 = nn.Sequential(Conv2dReLU(c2, c3, 3, padding=1, stride=2), Conv2dReLU(c3, c3, 3, padding=1))
        self.dec1 = DecoderBlockSCSE(c3, c2, dec_channels[0])
        self.dec2 = DecoderBlockSCSE(dec_channels[0], c1, dec_channels[1])
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
            nn.Linear(dec_channels[1] + c3, num_classes))

    def forward(self, x):
        f1 = self.enc1(x)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        d = self.dec2(self.dec1(f3, f2), f1)
        g = F.adaptive_avg_pool2d(f3, d.shape[-2:])
        return self.head(torch.cat([d, g], dim=1))
