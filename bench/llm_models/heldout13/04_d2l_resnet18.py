# undefined: Residual, resnet_block
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """ResNet-18 as built in d2l.ai (resnet_block stages), adapted for 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = torch.device(device)
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dropout = prm.get('dropout', 0.0)

        # CIFAR stem: 3x3 conv, no max-pool (the ImageNet 7x7/stride-2 stem is too aggressive here)
        b1 = nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1),
                           nn.BatchNorm2d(64), nn.ReLU())
        b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
        b3 = nn.Sequential(*resnet_block(64, 128, 2))
        b4 = nn.Sequential(*resnet_block(128, 256, 2))
        # last stage: one downsampling residual followed by a plain one
        b5 = nn.Sequential(Residual(256, 512, use_1x1conv=True, strides=2),
                           Residual(512, 512))

        self.features = nn.Sequential(b1, b2, b3, b4, b5)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(512, num_classes)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = self.drop(x)
        return self.fc(x)
