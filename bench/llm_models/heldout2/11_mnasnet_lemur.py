import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        bn_momentum = 1 - 0.9997
        self.stem = nn.Sequential(
            Conv2dNormActivation(in_shape[1], 32, kernel_size=3, stride=1),
            Conv2dNormActivation(32, 32, kernel_size=3, groups=32),
            Conv2dNormActivation(32, 16, kernel_size=1, activation_layer=None),
        )
        # in_ch, out_ch, kernel, stride, expansion, repeats
        cfg = [(16, 24, 3, 2, 3, 2), (24, 40, 5, 2, 3, 2), (40, 80, 5, 1, 6, 2), (80, 96, 3, 2, 6, 1)]
        blocks = []
        for in_ch, out_ch, k, s, e, r in cfg:
            blocks.append(_InvertedResidual(in_ch, out_ch, k, s, e, bn_momentum=bn_momentum))
            for _ in range(r - 1):
                blocks.append(_InvertedResidual(out_ch, out_ch, k, 1, e, bn_momentum=bn_momentum))
        self.blocks = nn.Sequential(*blocks)
        self.head = Conv2dNormActivation(96, 512, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=prm['dropout']), nn.Linear(512, out_shape[0]))

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = x.mean([2, 3])
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'], nesterov=True)

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
