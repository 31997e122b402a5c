# undefined: NONLocalBlock2D, ContextBlock, FReLU
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_frelu(c_in, c_out, stride=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        FReLU(c_out, k=3),
    )


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.2))

        self.layer1 = nn.Sequential(conv_bn_frelu(in_ch, 32), conv_bn_frelu(32, 32))
        self.layer2 = nn.Sequential(conv_bn_frelu(32, 64, 2), conv_bn_frelu(64, 64))
        self.nl = NONLocalBlock2D(64, sub_sample=True, bn_layer=True)
        self.layer3 = nn.Sequential(conv_bn_frelu(64, 128, 2), conv_bn_frelu(128, 128))
        self.gc = ContextBlock(128, ratio=1.0 / 8, pooling_type="att", fusion_types=("channel_add",))
        self.layer4 = nn.Sequential(conv_bn_frelu(128, 256, 2))
        self.gc2 = ContextBlock(256, ratio=1.0 / 16, pooling_type="avg", fusion_types=("channel_add", "channel_mul"))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(256, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.layer1(x)
        x = self.nl(self.layer2(x))
        x = self.gc(self.layer3(x))
        x = self.gc2(self.layer4(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.drop(x))
