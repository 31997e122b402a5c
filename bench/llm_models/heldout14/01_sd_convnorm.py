# undefined: StochasticDepth, Conv2dNormActivation
import torch
import torch.nn as nn


class ResidualUnit(nn.Module):
    def __init__(self, channels, sd_prob):
        super().__init__()
        self.conv1 = Conv2dNormActivation(channels, channels, kernel_size=3, stride=1,
                                          norm_layer=nn.BatchNorm2d, activation_layer=nn.SiLU)
        self.conv2 = Conv2dNormActivation(channels, channels, kernel_size=3, stride=1,
                                          norm_layer=nn.BatchNorm2d, activation_layer=None)
        self.stochastic_depth = StochasticDepth(sd_prob, "row")
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        out = self.conv2(self.conv1(x))
        return self.act(x + self.stochastic_depth(out))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        widths = [32, 64, 128]
        depths = [2, 2, 2]
        total = sum(depths)
        self.stem = Conv2dNormActivation(3, widths[0], kernel_size=3, stride=1, activation_layer=nn.SiLU)
        layers = []
        idx = 0
        in_ch = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            if i > 0:
                layers.append(Conv2dNormActivation(in_ch, w, kernel_size=3, stride=2, activation_layer=nn.SiLU))
            for _ in range(d):
                layers.append(ResidualUnit(w, 0.2 * idx / total))
                idx += 1
            in_ch = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.features(self.stem(x))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)
