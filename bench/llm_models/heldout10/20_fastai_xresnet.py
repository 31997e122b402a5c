# undefined: ConvLayer, AdaptiveConcatPool2d
import torch
import torch.nn as nn


class XResBlock(nn.Module):
    def __init__(self, ni, nf, stride=1):
        super().__init__()
        self.convs = nn.Sequential(
            ConvLayer(ni, nf, ks=3, stride=stride),
            ConvLayer(nf, nf, ks=3, act_cls=None),
        )
        idpath = []
        if stride != 1:
            idpath.append(nn.AvgPool2d(2, ceil_mode=True))
        if ni != nf:
            idpath.append(ConvLayer(ni, nf, ks=1, act_cls=None))
        self.idpath = nn.Sequential(*idpath)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.convs(x) + self.idpath(x))


class Net(nn.Module):
    """Small xresnet in fastai style with a concat-pool head."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        ps = prm.get("dropout", 0.5)
        stem_szs = [in_shape[1], 32, 32, 64]
        self.stem = nn.Sequential(
            *[ConvLayer(stem_szs[i], stem_szs[i + 1], stride=1) for i in range(3)]
        )
        self.body = nn.Sequential(
            XResBlock(64, 64, 1),
            XResBlock(64, 128, 2),
            XResBlock(128, 256, 2),
            XResBlock(256, 256, 2),
        )
        self.head = nn.Sequential(
            AdaptiveConcatPool2d(),
            nn.Flatten(),
            nn.BatchNorm1d(512),
            nn.Dropout(ps),
            nn.Linear(512, out_shape[0]),
        )

    def forward(self, x):
        return self.head(self.body(self.stem(x)))
