# undefined: EffectiveSEModule, CondConv2d
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class Net(nn.Module):
    """CondConv (conditionally parameterized convolutions) + effective SE, NAS candidate."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))
        num_experts = int(prm.get("num_experts", 4))
        width = int(prm.get("width", 32))

        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.SiLU(inplace=True),
        )
        chans = [width, width * 2, width * 4, width * 6]
        self.routing = nn.ModuleList()
        self.cond_convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.ses = nn.ModuleList()
        for i in range(3):
            cin, cout = chans[i], chans[i + 1]
            self.routing.append(nn.Linear(cin, num_experts))
            self.cond_convs.append(
                CondConv2d(cin, cout, kernel_size=3, stride=2, padding=1, num_experts=num_experts)
            )
            self.bns.append(nn.BatchNorm2d(cout))
            self.ses.append(EffectiveSEModule(cout, add_maxpool=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(chans[-1], num_classes)

    def forward(self, x):
        x = self.stem(x)
        for route, conv, bn, se in zip(self.routing, self.cond_convs, self.bns, self.ses):
            pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
            routing_weights = torch.sigmoid(route(pooled))
            x = conv(x, routing_weights)
            x = F.silu(bn(x))
            x = se(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.drop(x))
