# undefined: TripletAttention, ParNetAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


def conv_bn_relu(c_in, c_out, stride=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Net(nn.Module):
    """Plain CNN where each stage ends with a ParNet block followed by triplet attention."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        chans = [32, 64, 128, 256]
        layers = [conv_bn_relu(in_shape[1], chans[0])]
        c_prev = chans[0]
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers += [
                conv_bn_relu(c_prev, c, stride),
                ParNetAttention(channel=c),
                TripletAttention(),
            ]
            c_prev = c
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(prm['dropout']),
            nn.Linear(chans[-1], 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, out_shape[0]),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)

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
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
