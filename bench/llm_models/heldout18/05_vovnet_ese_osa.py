# undefined: eSEModule
import torch
import torch.nn as nn


def conv3x3_bn_relu(in_ch, out_ch, stride=1):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class OSAModuleLite(nn.Module):
    """One-shot aggregation: chain of 3x3 convs, concat all, 1x1 fuse, effective SE."""

    def __init__(self, in_ch, stage_ch, concat_ch, layer_per_block=3, identity=False):
        super().__init__()
        self.identity = identity
        self.layers = nn.ModuleList()
        ch = in_ch
        for _ in range(layer_per_block):
            self.layers.append(conv3x3_bn_relu(ch, stage_ch))
            ch = stage_ch
        total = in_ch + layer_per_block * stage_ch
        self.concat = nn.Sequential(
            nn.Conv2d(total, concat_ch, 1, bias=False),
            nn.BatchNorm2d(concat_ch),
            nn.ReLU(inplace=True),
        )
        self.ese = eSEModule(concat_ch)

    def forward(self, x):
        identity_feat = x
        outputs = [x]
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        x = self.concat(torch.cat(outputs, dim=1))
        x = self.ese(x)
        if self.identity:
            x = x + identity_feat
        return x


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv3x3_bn_relu(3, 32, 1), conv3x3_bn_relu(32, 32, 1))
        self.stage2 = OSAModuleLite(32, 32, 64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.stage3 = OSAModuleLite(64, 48, 96)
        self.stage3b = OSAModuleLite(96, 48, 96, identity=True)
        self.pool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.stage4 = OSAModuleLite(96, 64, 128)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x):
        x = self.stem(x)
        x = self.pool2(self.stage2(x))
        x = self.pool3(self.stage3b(self.stage3(x)))
        x = self.stage4(x)
        return self.classifier(x)
