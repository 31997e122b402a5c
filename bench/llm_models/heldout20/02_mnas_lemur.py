# undefined: _InvertedResidual
import torch
import torch.nn as nn

_BN_MOMENTUM = 1 - 0.9997


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """Tiny MNASNet-like classifier built from torchvision's MNASNet inverted residual."""

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, stride=1, bias=False),
            nn.BatchNorm2d(16, momentum=_BN_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        self.layers = nn.Sequential(
            _InvertedResidual(16, 24, 3, 2, 3, bn_momentum=_BN_MOMENTUM),
            _InvertedResidual(24, 24, 3, 1, 3, bn_momentum=_BN_MOMENTUM),
            _InvertedResidual(24, 40, 5, 2, 3, bn_momentum=_BN_MOMENTUM),
            _InvertedResidual(40, 40, 5, 1, 3, bn_momentum=_BN_MOMENTUM),
            _InvertedResidual(40, 80, 3, 2, 6, bn_momentum=_BN_MOMENTUM),
            _InvertedResidual(80, 96, 3, 1, 6, bn_momentum=_BN_MOMENTUM),
        )
        self.head = nn.Sequential(
            nn.Conv2d(96, 320, 1, padding=0, stride=1, bias=False),
            nn.BatchNorm2d(320, momentum=_BN_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=prm['dropout']),
            nn.Linear(320, num_classes),
        )

    def forward(self, x):
        x = self.stem(x)
        x = self.layers(x)
        x = self.head(x)
        x = x.mean([2, 3])
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
