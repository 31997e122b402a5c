# undefined: GSConv, VoVGSCSP
import torch
import torch.nn as nn


class Stem(nn.Module):
    def __init__(self, c_out=32):
        super().__init__()
        self.conv = nn.Conv2d(3, c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SlimStage(nn.Module):
    """Downsample with a GSConv, then a VoV-GSCSP aggregation (slim-neck design)."""

    def __init__(self, c_in, c_out, n=1):
        super().__init__()
        self.down = GSConv(c_in, c_out, 3, 2)
        self.csp = VoVGSCSP(c_out, c_out, n=n)

    def forward(self, x):
        return self.csp(self.down(x))


class SlimNeckClassifier(nn.Module):
    def __init__(self, num_classes=10, widths=(32, 64, 128, 192), repeats=(1, 1, 2)):
        super().__init__()
        self.stem = Stem(widths[0])
        self.stages = nn.Sequential(*[
            SlimStage(widths[i], widths[i + 1], repeats[i]) for i in range(len(repeats))
        ])
        self.fuse = GSConv(widths[-1], 256, 1, 1)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(256, num_classes))

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        return self.head(self.fuse(x))
