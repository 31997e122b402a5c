# undefined: eca_layer, simam_module
import torch
import torch.nn as nn
import torch.nn.functional as F


class AttnBasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1, use_simam=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = simam_module(planes, e_lambda=1e-4) if use_simam else eca_layer(planes, k_size=3)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.attn(out)
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        cfg = [(32, 1, False), (64, 2, True), (64, 1, False), (128, 2, True), (128, 1, False), (256, 2, True)]
        blocks = []
        c = 32
        for w, s, sim in cfg:
            blocks.append(AttnBasicBlock(c, w, s, use_simam=sim))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.eca_head = eca_layer(c, k_size=5)
        self.fc = nn.Linear(c, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = self.eca_head(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)
