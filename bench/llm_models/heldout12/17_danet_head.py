# undefined: PAM_Module, CAM_Module
"""CNN backbone + Dual Attention head (position & channel attention) for CIFAR-10.

Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019
(official code: github.com/junfu1115/DANet).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3_bn(in_c, out_c, stride=1):
    return nn.Sequential(nn.Conv2d(in_c, out_c, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_c), nn.ReLU(inplace=True))


class DAHead(nn.Module):
    def __init__(self, in_channels, num_classes, dropout=0.1):
        super().__init__()
        inter_channels = in_channels // 4
        self.conv5a = conv3x3_bn(in_channels, inter_channels)
        self.conv5c = conv3x3_bn(in_channels, inter_channels)
        self.sa = PAM_Module(inter_channels)
        self.sc = CAM_Module(inter_channels)
        self.conv51 = conv3x3_bn(inter_channels, inter_channels)
        self.conv52 = conv3x3_bn(inter_channels, inter_channels)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(inter_channels, num_classes)

    def forward(self, x):
        sa_feat = self.conv51(self.sa(self.conv5a(x)))
        sc_feat = self.conv52(self.sc(self.conv5c(x)))
        feat_sum = sa_feat + sc_feat
        pooled = F.adaptive_avg_pool2d(feat_sum, 1).flatten(1)
        return self.fc(self.drop(pooled))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.backbone = nn.Sequential(
            conv3x3_bn(in_shape[1], 64),
            conv3x3_bn(64, 64),
            conv3x3_bn(64, 128, stride=2),   # 16x16
            conv3x3_bn(128, 128),
            conv3x3_bn(128, 256, stride=2),  # 8x8
            conv3x3_bn(256, 256),
        )
        self.head = DAHead(256, out_shape[0], dropout=prm.get('dropout', 0.1))

    def forward(self, x):
        return self.head(self.backbone(x))
