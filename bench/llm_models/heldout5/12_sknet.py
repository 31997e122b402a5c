# undefined: SKConv, DropPath
import torch
import torch.nn as nn


class SKUnit(nn.Module):
    def __init__(self, in_features, mid_features, out_features, stride=1, M=2, G=8, r=16, L=32, drop_path=0.0):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_features, mid_features, 1, bias=False),
            nn.BatchNorm2d(mid_features),
            nn.ReLU(inplace=True),
        )
        self.conv2_sk = SKConv(mid_features, M=M, G=G, r=r, stride=stride, L=L)
        self.conv3 = nn.Sequential(
            nn.Conv2d(mid_features, out_features, 1, bias=False),
            nn.BatchNorm2d(out_features),
        )
        if stride == 1 and in_features == out_features:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_features, out_features, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_features),
            )
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv1(x)
        out = self.conv2_sk(out)
        out = self.conv3(out)
        return self.relu(self.drop_path(out) + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        # (mid, out, num_blocks, stride)
        stage_cfg = [(64, 128, 2, 1), (128, 256, 2, 2), (256, 512, 2, 2)]
        total = sum(c[2] for c in stage_cfg)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]

        layers = []
        in_f = 64
        idx = 0
        for mid, out, n, s in stage_cfg:
            for i in range(n):
                layers.append(SKUnit(in_f, mid, out, stride=s if i == 0 else 1, drop_path=dpr[idx]))
                in_f = out
                idx += 1
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_f, out_shape[0])
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.pool(x).flatten(1)
        return self.classifier(x)
