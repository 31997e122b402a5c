# undefined: SKConv, ContextBlock, DropPath
import torch
import torch.nn as nn
import torch.nn.functional as F


class SKUnit(nn.Module):
    def __init__(self, in_features, mid_features, out_features, stride=1, drop_path=0.0):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_features, mid_features, 1, bias=False),
            nn.BatchNorm2d(mid_features),
            nn.ReLU(inplace=True),
        )
        self.sk = SKConv(mid_features, M=2, G=16, r=16, stride=stride, L=32)
        self.conv3 = nn.Sequential(
            nn.Conv2d(mid_features, out_features, 1, bias=False),
            nn.BatchNorm2d(out_features),
        )
        self.gc = ContextBlock(out_features, ratio=1. / 4)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        if stride == 1 and in_features == out_features:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_features, out_features, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_features),
            )

    def forward(self, x):
        out = self.conv1(x)
        out = self.sk(out)
        out = self.conv3(out)
        out = self.gc(out)
        return F.relu(self.shortcut(x) + self.drop_path(out))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        # (mid, out, num_units, stride)
        cfg = [(64, 128, 2, 1), (128, 256, 2, 2), (256, 512, 2, 2)]
        total = sum(c[2] for c in cfg)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        in_f = 64
        k = 0
        for mid, out, n, s in cfg:
            for i in range(n):
                stages.append(SKUnit(in_f, mid, out, stride=s if i == 0 else 1, drop_path=dpr[k]))
                in_f = out
                k += 1
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.classifier = nn.Linear(in_f, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.pool(x).flatten(1)
        return self.classifier(self.dropout(x))
