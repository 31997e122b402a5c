# undefined: ResidualBlock, AttentionPool2d
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        width = int(prm.get("width", 32))
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.layer1 = ResidualBlock(width, width * 2, stride=2)       # 16x16
        self.layer2 = ResidualBlock(width * 2, width * 4, stride=2)   # 8x8
        self.layer3 = ResidualBlock(width * 4, width * 4, stride=1)
        embed_dim = width * 4
        self.attnpool = AttentionPool2d(in_shape[2] // 4, embed_dim, 4, 256)
        self.fc = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.attnpool(x)
        return self.fc(x)
