# undefined: Conv2dReLU, SCSEModule
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class EncoderStage(nn.Module):
    """Two Conv-BN-ReLU layers, concurrent spatial & channel squeeze-excitation, then max-pool."""

    def __init__(self, in_channels, out_channels, reduction=16, pool=True):
        super().__init__()
        self.conv1 = Conv2dReLU(in_channels, out_channels, kernel_size=3, padding=1, use_batchnorm=True)
        self.conv2 = Conv2dReLU(out_channels, out_channels, kernel_size=3, padding=1, use_batchnorm=True)
        self.attention = SCSEModule(out_channels, reduction=reduction)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        x = self.attention(x)
        return self.pool(x)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.encoder = nn.Sequential(
            EncoderStage(in_shape[1], 64, reduction=8),   # 16x16
            EncoderStage(64, 128),                        # 8x8
            EncoderStage(128, 256),                       # 4x4
            EncoderStage(256, 256, pool=False),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm['dropout']),
            nn.Linear(256, out_shape[0]),
        )

    def forward(self, x):
        return self.head(self.encoder(x))

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
