# undefined: ConvNormAct, ClassifierHead
import torch
import torch.nn as nn


class DWResidual(nn.Module):
    def __init__(self, chs, act_layer=nn.SiLU):
        super().__init__()
        self.conv_dw = ConvNormAct(chs, chs, kernel_size=3, stride=1, groups=chs, act_layer=act_layer)
        self.conv_pw = ConvNormAct(chs, chs, kernel_size=1, apply_act=False)
        self.act = act_layer()

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x)
        x = self.conv_pw(x)
        return self.act(x + shortcut)


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        drop_rate = prm.get("dropout", 0.1)
        widths = (32, 64, 128, 256)
        depths = (1, 2, 2, 1)

        self.stem = ConvNormAct(in_chans, widths[0], kernel_size=3, stride=1, act_layer=nn.SiLU)
        stages = []
        prev = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            stride = 1 if i == 0 else 2
            blocks = [ConvNormAct(prev, w, kernel_size=3, stride=stride, act_layer=nn.SiLU)]
            blocks += [DWResidual(w) for _ in range(d)]
            stages.append(nn.Sequential(*blocks))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.num_features = prev
        self.head = ClassifierHead(self.num_features, num_classes, pool_type="avg", drop_rate=drop_rate)

    def forward_features(self, x):
        x = self.stem(x)
        return self.stages(x)

    def forward(self, x):
        x = self.forward_features(x)
        return self.head(x)
