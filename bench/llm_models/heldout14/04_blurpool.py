# undefined: BlurPool2d
import torch
import torch.nn as nn


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        self.features = nn.Sequential(
            conv_bn_relu(in_ch, 32), conv_bn_relu(32, 32),
            BlurPool2d(32, filt_size=3, stride=2),
            conv_bn_relu(32, 64), conv_bn_relu(64, 64),
            BlurPool2d(64, filt_size=3, stride=2),
            conv_bn_relu(64, 128), conv_bn_relu(128, 128),
            BlurPool2d(128, filt_size=3, stride=2),
            conv_bn_relu(128, 192),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(192, num_classes)
        self.to(device)

    def forward(self, x):
        x = torch.flatten(self.pool(self.features(x)), 1)
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
