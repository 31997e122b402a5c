import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=5e-4, nesterov=True)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.cardinality, self.base_width, self.widen_factor = 8, 64, 4
        self.block_depth = 3  # (29 - 2) // 9
        self.stages = [64, 64 * self.widen_factor, 128 * self.widen_factor, 256 * self.widen_factor]
        self.conv_1_3x3 = nn.Conv2d(in_shape[1], 64, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(64)
        self.stage_1 = self.block(self.stages[0], self.stages[1], 1)
        self.stage_2 = self.block(self.stages[1], self.stages[2], 2)
        self.stage_3 = self.block(self.stages[2], self.stages[3], 2)
        self.classifier = nn.Linear(self.stages[3], out_shape[0])
        nn.init.kaiming_normal_(self.classifier.weight)

    def block(self, in_channels, out_channels, pool_stride=2):
        layers = []
        for bottleneck in range(self.block_depth):
            if bottleneck == 0:
                layers.append(ResNeXtBottleneck(in_channels, out_channels, pool_stride, self.cardinality,
                                                self.base_width, self.widen_factor))
            else:
                layers.append(ResNeXtBottleneck(out_channels, out_channels, 1, self.cardinality,
                                                self.base_width, self.widen_factor))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3(x)), inplace=True)
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        x = F.avg_pool2d(x, 8, 1)
        x = x.view(-1, self.stages[3])
        return self.classifier(x)
