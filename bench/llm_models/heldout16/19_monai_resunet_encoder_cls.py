# undefined: UnetResBlock, UnetBasicBlock
import torch
import torch.nn as nn


class DynUNetEncoderClassifier(nn.Module):
    """Encoder half of a MONAI DynUNet, reused as a 2D image classifier."""

    def __init__(self, num_classes=10, in_channels=3, filters=(16, 32, 64, 128), norm_name="batch"):
        super().__init__()
        self.input_block = UnetBasicBlock(
            spatial_dims=2, in_channels=in_channels, out_channels=filters[0],
            kernel_size=3, stride=1, norm_name=norm_name)
        self.downsamples = nn.ModuleList()
        for i in range(1, len(filters)):
            self.downsamples.append(UnetResBlock(
                spatial_dims=2, in_channels=filters[i - 1], out_channels=filters[i],
                kernel_size=3, stride=2, norm_name=norm_name,
                act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01})))
        self.bottleneck = UnetResBlock(2, filters[-1], filters[-1], kernel_size=3, stride=1,
                                       norm_name=norm_name, dropout=0.1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(filters[-1], 64), nn.ReLU(inplace=True),
                                        nn.Linear(64, num_classes))

    def forward(self, x):
        x = self.input_block(x)
        for down in self.downsamples:
            x = down(x)
        x = self.bottleneck(x)
        return self.classifier(self.pool(x))
