# undefined: AIFI
import torch
import torch.nn as nn


class ConvBNAct(nn.Module):
    def __init__(self, c1, c2, k=3, s=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    """RT-DETR-flavoured classifier: CNN backbone -> 1x1 input projection of the
    stride-8 feature map -> AIFI (attention-based intra-scale feature interaction)
    -> fusion conv -> global pooling head."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        hidden_dim = prm.get("hidden_dim", 128)
        nhead = prm.get("nhead", 4)
        dim_feedforward = prm.get("dim_feedforward", 256)

        self.backbone = nn.Sequential(
            ConvBNAct(in_shape[1], 32, 3, 1),
            ConvBNAct(32, 64, 3, 2),    # /2
            ConvBNAct(64, 64, 3, 1),
            ConvBNAct(64, 128, 3, 2),   # /4
            ConvBNAct(128, 128, 3, 1),
            ConvBNAct(128, 192, 3, 2),  # /8
        )
        self.input_proj = nn.Sequential(
            nn.Conv2d(192, hidden_dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden_dim),
        )
        self.encoder = AIFI(hidden_dim, dim_feedforward, nhead, dropout=0.0, act=nn.GELU())
        self.fuse = ConvBNAct(hidden_dim, hidden_dim, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(hidden_dim, out_shape[0])

    def forward(self, x):
        x = self.backbone(x)
        x = self.input_proj(x)
        x = self.encoder(x)
        x = self.fuse(x)
        return self.fc(self.pool(x).flatten(1))
