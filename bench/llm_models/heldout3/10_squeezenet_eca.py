# undefined: Fire, eca_layer
import torch
import torch.nn as nn


class Net(nn.Module):
    """SqueezeNet-1.1-style network with ECA channel attention, for 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.5))

        self.features = nn.Sequential(
            nn.Conv2d(in_ch, 64, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),          # 16x16
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            eca_layer(128, 3),
            nn.MaxPool2d(kernel_size=2, stride=2),          # 8x8
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            eca_layer(256, 3),
            nn.MaxPool2d(kernel_size=2, stride=2),          # 4x4
            Fire(256, 48, 192, 192),
            Fire(384, 64, 256, 256),
            eca_layer(512, 5),
        )
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            final_conv,
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)
