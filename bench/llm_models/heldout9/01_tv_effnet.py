# undefined: Conv2dNormActivation, SqueezeExcitation, StochasticDepth
import torch
import torch.nn as nn


class MBBlock(nn.Module):
    def __init__(self, cin, cout, expand, stride, sd_prob):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(Conv2dNormActivation(cin, hidden, kernel_size=1, activation_layer=nn.SiLU))
        layers.append(Conv2dNormActivation(hidden, hidden, kernel_size=3, stride=stride, groups=hidden,
                                           activation_layer=nn.SiLU))
        layers.append(SqueezeExcitation(hidden, max(1, cin // 4), activation=nn.SiLU))
        layers.append(Conv2dNormActivation(hidden, cout, kernel_size=1, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob, "row")

    def forward(self, x):
        out = self.block(x)
        if self.use_res:
            out = self.stochastic_depth(out) + x
        return out


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dropout = float(prm.get("dropout", 0.2))
        cfg = [  # expand, cout, repeats, stride
            (1, 16, 1, 1),
            (4, 24, 2, 2),
            (4, 40, 2, 2),
            (4, 80, 2, 2),
        ]
        self.stem = Conv2dNormActivation(in_shape[1], 32, kernel_size=3, stride=1, activation_layer=nn.SiLU)
        total = sum(c[2] for c in cfg)
        blocks, cin, idx = [], 32, 0
        for expand, cout, reps, stride in cfg:
            for i in range(reps):
                blocks.append(MBBlock(cin, cout, expand, stride if i == 0 else 1, 0.2 * idx / total))
                cin = cout
                idx += 1
        self.blocks = nn.Sequential(*blocks)
        self.head = Conv2dNormActivation(cin, 320, kernel_size=1, activation_layer=nn.SiLU)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(320, out_shape[0]))

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.head(x)
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)
