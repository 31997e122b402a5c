# undefined: SEAttention
import torch
import torch.nn as nn


class Net(nn.Module):
    """Plain 3-stage CNN with squeeze-and-excitation after every stage."""

    def __init__(self, num_classes=10, widths=(32, 64, 128), reduction=8):
        super().__init__()
        layers = []
        in_ch = 3
        for i, w in enumerate(widths):
            layers += [
                nn.Conv2d(in_ch, w, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.Conv2d(w, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                SEAttention(channel=w, reduction=reduction),
            ]
            in_ch = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.dropout(x))
