# undefined: DepthwiseSeparableConv, CoordAtt
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        # (out_channels, stride, use_coord_att)
        cfg = [(64, 1, False), (128, 2, True), (128, 1, False), (256, 2, True),
               (256, 1, False), (512, 2, True), (512, 1, False), (512, 1, True)]
        layers = []
        in_ch = 32
        for out_ch, stride, use_ca in cfg:
            layers.append(DepthwiseSeparableConv(in_ch, out_ch, stride=stride))
            if use_ca:
                layers.append(CoordAtt(out_ch, out_ch, reduction=32))
            in_ch = out_ch
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(in_ch, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layers(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        return self.fc(x)
