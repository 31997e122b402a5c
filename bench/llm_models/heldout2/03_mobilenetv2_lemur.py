import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
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

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        width_mult = 1.0
        input_channel = _make_divisible(32 * width_mult, 8)
        last_channel = _make_divisible(640 * width_mult, 8)
        # t, c, n, s  -- CIFAR variant with only two stride-2 stages
        cfg = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 2, 2], [6, 96, 2, 1]]
        layers = [nn.Conv2d(in_shape[1], input_channel, 3, 1, 1, bias=False),
                  nn.BatchNorm2d(input_channel), nn.ReLU6(inplace=True)]
        for t, c, n, s in cfg:
            output_channel = _make_divisible(c * width_mult, 8)
            for i in range(n):
                stride = s if i == 0 else 1
                layers.append(InvertedResidual(input_channel, output_channel, stride, expand_ratio=t))
                input_channel = output_channel
        layers += [nn.Conv2d(input_channel, last_channel, 1, bias=False),
                   nn.BatchNorm2d(last_channel), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(prm['dropout']), nn.Linear(last_channel, out_shape[0]))

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)
