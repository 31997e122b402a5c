# undefined: conv3x3, conv1x1
import torch
import torch.nn as nn


class PreActBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, groups=1, dilation=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1, groups, dilation)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut = None
        if stride != 1 or inplanes != planes:
            self.shortcut = conv1x1(inplanes, planes, stride)

    def forward(self, x):
        out = self.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        self.conv1 = conv3x3(in_ch, 32)
        self.layer1 = nn.Sequential(PreActBlock(32, 32), PreActBlock(32, 32, dilation=2))
        self.layer2 = nn.Sequential(PreActBlock(32, 64, 2), PreActBlock(64, 64, groups=4))
        self.layer3 = nn.Sequential(PreActBlock(64, 128, 2), PreActBlock(128, 128, groups=4, dilation=2))
        self.layer4 = nn.Sequential(PreActBlock(128, 192, 2))
        self.bn = nn.BatchNorm2d(192)
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(192, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.relu(self.bn(x)).mean([2, 3])
        return self.fc(self.dropout(x))

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
