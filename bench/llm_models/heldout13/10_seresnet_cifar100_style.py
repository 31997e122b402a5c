# undefined: BottleneckResidualSEBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """SE-ResNet (bottleneck SE blocks, expansion 4) with a compact [1, 2, 2, 1] layout for CIFAR-10."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        block = BottleneckResidualSEBlock
        block_num = [1, 2, 2, 1]
        self.in_channels = 32

        self.pre = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True)
        )

        self.stage1 = self._make_stage(block, block_num[0], 32, 1)
        self.stage2 = self._make_stage(block, block_num[1], 64, 2)
        self.stage3 = self._make_stage(block, block_num[2], 128, 2)
        self.stage4 = self._make_stage(block, block_num[3], 256, 2)

        self.dropout = nn.Dropout(prm['dropout'])
        self.linear = nn.Linear(self.in_channels, out_shape[0])

    def forward(self, x):
        x = self.pre(x)
        x = self.stage1(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        x = F.adaptive_avg_pool2d(x, 1)
        x = x.view(x.size(0), -1)
        x = self.dropout(x)
        return self.linear(x)

    def _make_stage(self, block, num, out_channels, stride):
        layers = []
        layers.append(block(self.in_channels, out_channels, stride))
        self.in_channels = out_channels * block.expansion
        while num - 1:
            layers.append(block(self.in_channels, out_channels, 1))
            num -= 1
        return nn.Sequential(*layers)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=5e-4)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            self.optimizer.step()
