# undefined: MultiSpectralAttentionLayer, GAM_Attention
import torch
import torch.nn as nn


class FcaBasicBlock(nn.Module):
    """ResNet basic block + frequency channel attention (FcaNet)."""

    def __init__(self, inplanes, planes, stride, dct_size):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.att = MultiSpectralAttentionLayer(planes, dct_size, dct_size, reduction=16,
                                               freq_sel_method='top16')
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.att(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class FcaGamNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        c2wh = {32: 32, 64: 16, 128: 8}  # channels -> feature size, used as DCT size
        self.layer1 = FcaBasicBlock(32, 32, 1, c2wh[32])
        self.layer2 = FcaBasicBlock(32, 64, 2, c2wh[64])
        self.layer3 = FcaBasicBlock(64, 128, 2, c2wh[128])
        self.gam = GAM_Attention(in_channels=128, out_channels=128, rate=4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.gam(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)
