import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        norm_layer, activation = nn.BatchNorm2d, nn.ReLU
        self.stem = SimpleStemIN(in_shape[1], 32, norm_layer, activation)  # 32x32 -> 16x16
        widths, depths, strides = (48, 104, 208), (1, 3, 5), (1, 2, 2)
        group_width = 8
        blocks = []
        width_in = 32
        for w, d, s in zip(widths, depths, strides):
            for i in range(d):
                blocks.append(ResBottleneckBlock(
                    width_in, w, s if i == 0 else 1, norm_layer, activation,
                    group_width=group_width, bottleneck_multiplier=1.0, se_ratio=0.25))
                width_in = w
        self.trunk = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(width_in, out_shape[0])

    def forward(self, x):
        x = self.trunk(self.stem(x))
        x = self.avgpool(x).flatten(start_dim=1)
        return self.fc(self.dropout(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'], weight_decay=5e-5)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
