# undefined: channel_shuffle, conv_bn, conv_1x1_bn
import torch
import torch.nn as nn


class ShuffleUnit(nn.Module):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        branch_features = oup // 2
        assert stride != 1 or inp == branch_features * 2

        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch_features),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Identity()

        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch_features, branch_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch_features, branch_features, 3, stride, 1, groups=branch_features, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class Net(nn.Module):
    """ShuffleNetV2 0.5x adapted for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        num_classes = out_shape[0]

        stage_repeats = [3, 7, 3]
        stage_out = [24, 48, 96, 192, 1024]

        self.conv1 = conv_bn(in_ch, stage_out[0], 1)
        c = stage_out[0]
        stages = []
        for repeats, oc in zip(stage_repeats, stage_out[1:4]):
            seq = [ShuffleUnit(c, oc, 2)]
            for _ in range(repeats):
                seq.append(ShuffleUnit(oc, oc, 1))
            stages.append(nn.Sequential(*seq))
            c = oc
        self.stages = nn.Sequential(*stages)
        self.conv_last = conv_1x1_bn(c, stage_out[-1])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(stage_out[-1], num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.stages(x)
        x = self.conv_last(x)
        x = self.pool(x).flatten(1)
        return self.fc(x)
