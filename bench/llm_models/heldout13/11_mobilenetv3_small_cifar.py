# undefined: InvertedResidual, _make_divisible
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """MobileNetV3-Small for CIFAR-10 (first two strides set to 1 for 32x32 inputs)."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        width_mult = 1.0
        # setting of inverted residual blocks: k, t, c, SE, HS, s
        self.cfgs = [
            [3, 1, 16, 1, 0, 1],
            [3, 4.5, 24, 0, 0, 1],
            [3, 3.67, 24, 0, 0, 1],
            [5, 4, 40, 1, 1, 2],
            [5, 6, 40, 1, 1, 1],
            [5, 6, 40, 1, 1, 1],
            [5, 3, 48, 1, 1, 1],
            [5, 3, 48, 1, 1, 1],
            [5, 6, 96, 1, 1, 2],
            [5, 6, 96, 1, 1, 1],
            [5, 6, 96, 1, 1, 2],
        ]
        input_channel = _make_divisible(16 * width_mult, 8)
        layers = [nn.Sequential(
            nn.Conv2d(in_shape[1], input_channel, 3, 1, 1, bias=False),
            nn.BatchNorm2d(input_channel),
            nn.Hardswish(inplace=True))]
        block = InvertedResidual
        for k, t, c, use_se, use_hs, s in self.cfgs:
            output_channel = _make_divisible(c * width_mult, 8)
            exp_size = _make_divisible(input_channel * t, 8)
            layers.append(block(input_channel, exp_size, output_channel, k, s, use_se, use_hs))
            input_channel = output_channel
        self.features = nn.Sequential(*layers)
        self.conv = nn.Sequential(
            nn.Conv2d(input_channel, exp_size, 1, 1, 0, bias=False),
            nn.BatchNorm2d(exp_size),
            nn.Hardswish(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        output_channel = _make_divisible(1024 * width_mult, 8) if width_mult > 1.0 else 1024
        self.classifier = nn.Sequential(
            nn.Linear(exp_size, output_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(prm['dropout']),
            nn.Linear(output_channel, out_shape[0]))

    def forward(self, x):
        x = self.features(x)
        x = self.conv(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=4e-5)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
