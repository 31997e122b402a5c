# undefined: h_swish, conv_3x3_bn, conv_1x1_bn
import torch
import torch.nn as nn


class InvertedResidualV3(nn.Module):
    def __init__(self, inp, hidden_dim, oup, kernel_size, stride, use_hs):
        super().__init__()
        self.identity = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim),
            h_swish() if use_hs else nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, hidden_dim, kernel_size, stride, (kernel_size - 1) // 2, groups=hidden_dim, bias=False),
            nn.BatchNorm2d(hidden_dim),
            h_swish() if use_hs else nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.identity else self.conv(x)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        cfgs = [
            # k, t, c, use_hs, s
            [3, 1, 16, 0, 1],
            [3, 4, 24, 0, 2],
            [3, 3, 24, 0, 1],
            [5, 3, 40, 1, 2],
            [5, 3, 40, 1, 1],
            [5, 6, 80, 1, 2],
        ]
        input_channel = 16
        layers = [conv_3x3_bn(in_ch, input_channel, 1)]
        for k, t, c, use_hs, s in cfgs:
            layers.append(InvertedResidualV3(input_channel, input_channel * t, c, k, s, use_hs))
            input_channel = c
        self.features = nn.Sequential(*layers)
        self.conv = conv_1x1_bn(input_channel, 384)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Linear(384, 512), h_swish(), nn.Dropout(prm['dropout']), nn.Linear(512, num_classes))
        self.to(device)

    def forward(self, x):
        x = self.conv(self.features(x))
        x = self.avgpool(x).view(x.size(0), -1)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}
