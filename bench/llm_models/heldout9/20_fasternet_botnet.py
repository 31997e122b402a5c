# undefined: Partial_conv3, MHSA, SwiGLU
import torch
import torch.nn as nn


class FasterBlock(nn.Module):
    def __init__(self, dim, n_div=4, mlp_ratio=2):
        super().__init__()
        hidden = dim * mlp_ratio
        self.spatial_mixing = Partial_conv3(dim, n_div, 'split_cat')
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, dim, 1, bias=False),
        )

    def forward(self, x):
        return x + self.mlp(self.spatial_mixing(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], 48, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(48), nn.ReLU(inplace=True))         # 16x16
        self.stage1 = nn.Sequential(FasterBlock(48), FasterBlock(48))
        self.merge = nn.Sequential(nn.Conv2d(48, 128, 2, stride=2, bias=False), nn.BatchNorm2d(128))  # 8x8
        self.stage2 = nn.Sequential(FasterBlock(128), FasterBlock(128))
        res = in_shape[2] // 4
        self.mhsa = MHSA(128, width=res, height=res, heads=4)
        self.bn = nn.BatchNorm2d(128)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.ffn = SwiGLU(in_features=128, hidden_features=256)
        self.fc = nn.Linear(128, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.merge(x)
        x = self.stage2(x)
        x = torch.relu(self.bn(x + self.mhsa(x)))
        x = self.pool(x).flatten(1)
        x = x + self.ffn(x)
        return self.fc(x)
