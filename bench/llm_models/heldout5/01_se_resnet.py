# undefined: BasicBlock, SEBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        widths = [32, 64, 128, 256]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers = []
        in_planes = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(BasicBlock(in_planes, w, stride))
            layers.append(SEBlock(w, reduction=16))
            layers.append(BasicBlock(w, w, 1))
            in_planes = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(widths[-1], num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        x = self.dropout(x)
        return self.fc(x)
