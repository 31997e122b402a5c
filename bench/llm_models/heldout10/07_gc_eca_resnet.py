# undefined: GlobalContext, EcaModule
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class BasicBlock_ECA(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.eca = EcaModule(planes, kernel_size=3)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.eca(out)
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dropout = prm.get("dropout", 0.3)
        base = int(prm.get("base_width", 32))
        self.conv1 = nn.Conv2d(in_shape[1], base, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        stages = []
        in_planes = base
        for i, mult in enumerate([1, 2, 4]):
            planes = base * mult
            stride = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(
                    BasicBlock_ECA(in_planes, planes, stride),
                    BasicBlock_ECA(planes, planes, 1),
                    GlobalContext(planes, fuse_add=True, fuse_scale=False, rd_ratio=1.0 / 8),
                )
            )
            in_planes = planes
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_planes, out_shape[0])

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.stages(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(self.dropout(out))
