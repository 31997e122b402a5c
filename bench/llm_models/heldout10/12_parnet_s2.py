# undefined: ParNetAttention, S2Attention
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        c = int(prm.get("channels", 64))
        dropout = prm.get("dropout", 0.2)
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[1], c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.SiLU(),
            ParNetAttention(channel=c),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.SiLU(),
            ParNetAttention(2 * c),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(4 * c),
            nn.SiLU(),
        )
        # S2-MLPv2 style spatial-shift attention on the 8x8 map
        self.s2 = S2Attention(channels=4 * c)
        self.norm = nn.BatchNorm2d(4 * c)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * c, out_shape[0])

    def forward(self, x):
        x = self.features(x)
        x = x + self.s2(x)
        x = F.silu(self.norm(x))
        x = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        return self.fc(self.dropout(x))
