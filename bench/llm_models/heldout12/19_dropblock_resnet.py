# undefined: DropBlock2D, LinearScheduler
"""Pre-activation ResNet for CIFAR-10 regularised with scheduled DropBlock.

Ghiasi, Lin, Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018
(PyTorch implementation: github.com/miguelvr/dropblock).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class PreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.dropblock = LinearScheduler(
            DropBlock2D(drop_prob=0., block_size=5),
            start_value=0.,
            stop_value=prm['dropout'],
            nr_steps=5e3,
        )
        self.conv1 = nn.Conv2d(in_shape[1], 64, 3, 1, 1, bias=False)
        self.layer1 = nn.Sequential(PreActBlock(64, 64), PreActBlock(64, 64))
        self.layer2 = nn.Sequential(PreActBlock(64, 128, 2), PreActBlock(128, 128))
        self.layer3 = nn.Sequential(PreActBlock(128, 256, 2), PreActBlock(256, 256))
        self.layer4 = nn.Sequential(PreActBlock(256, 512, 2), PreActBlock(512, 512))
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, out_shape[0])

    def forward(self, x):
        self.dropblock.step()  # increment number of iterations
        out = self.conv1(x)
        out = self.dropblock(self.layer1(out))
        out = self.dropblock(self.layer2(out))
        out = self.layer4(self.layer3(out))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).view(out.size(0), -1)
        return self.linear(out)

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
