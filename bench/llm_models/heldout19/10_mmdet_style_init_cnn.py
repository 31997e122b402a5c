# undefined: xavier_init, bias_init_with_prob
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvGNReLU(nn.Sequential):
    def __init__(self, in_ch, out_ch, stride=1, groups=8):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
            nn.GroupNorm(groups, out_ch),
            nn.ReLU(inplace=True),
        )


class Net(nn.Module):
    """Small GN-CNN with a RetinaNet/FCOS-like classification tower.

    Weights follow the mmdet conventions: xavier-uniform for the conv tower and a
    focal-loss prior (pi = 0.01) for the bias of the final classifier."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        feat = prm.get("feat_channels", 64)
        self.prior_prob = prm.get("prior_prob", 0.01)

        self.backbone = nn.Sequential(
            ConvGNReLU(in_shape[1], 32),
            ConvGNReLU(32, 32),
            ConvGNReLU(32, feat, stride=2),
            ConvGNReLU(feat, feat),
            ConvGNReLU(feat, feat, stride=2),
        )
        self.cls_convs = nn.ModuleList([ConvGNReLU(feat, feat) for _ in range(2)])
        self.conv_cls = nn.Conv2d(feat, num_classes, 3, padding=1)
        self.init_weights()

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")
        bias_cls = bias_init_with_prob(self.prior_prob)
        nn.init.normal_(self.conv_cls.weight, std=0.01)
        nn.init.constant_(self.conv_cls.bias, bias_cls)

    def forward(self, x):
        x = self.backbone(x)
        for conv in self.cls_convs:
            x = conv(x)
        x = self.conv_cls(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
