# undefined: vgg_block, nin_block
import torch
from torch import nn


class VGGNiNNet(nn.Module):
    """d2l-style VGG feature extractor followed by a NiN classification block."""

    def __init__(self, conv_arch=((1, 32), (1, 64), (2, 128)), num_classes=10, in_channels=3):
        super().__init__()
        conv_blks = []
        for (num_convs, out_channels) in conv_arch:
            conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
            in_channels = out_channels
        self.features = nn.Sequential(*conv_blks)
        self.classifier = nn.Sequential(
            nn.Dropout(0.3),
            nin_block(in_channels, num_classes, kernel_size=3, strides=1, padding=1),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten())

    def forward(self, X):
        return self.classifier(self.features(X))
