# undefined: MV2Block, MobileViTBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """MobileViT-XXS-like network for CIFAR-10: MV2 inverted residuals + MobileViT global blocks."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels = [16, 16, 24, 24, 48, 48, 64, 64, 80, 80, 320]
        dims = [64, 80, 96]
        expansion = 2
        kernel_size = 3
        patch_size = (2, 2)

        self.conv1 = nn.Sequential(
            nn.Conv2d(in_shape[1], channels[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.SiLU(),
        )
        self.mv2 = nn.Sequential(
            MV2Block(channels[0], channels[1], 1, expansion),
            MV2Block(channels[1], channels[2], 2, expansion),   # 16x16
            MV2Block(channels[2], channels[3], 1, expansion),
            MV2Block(channels[3], channels[4], 2, expansion),   # 8x8
        )
        self.mvit1 = MobileViTBlock(dims[0], 2, channels[5], kernel_size, patch_size, int(dims[0] * 2),
                                    dropout=prm['dropout'])
        self.down2 = MV2Block(channels[5], channels[6], 2, expansion)  # 4x4
        self.mvit2 = MobileViTBlock(dims[1], 4, channels[7], kernel_size, patch_size, int(dims[1] * 4),
                                    dropout=prm['dropout'])
        self.down3 = MV2Block(channels[7], channels[8], 1, expansion)
        self.mvit3 = MobileViTBlock(dims[2], 3, channels[9], kernel_size, patch_size, int(dims[2] * 4),
                                    dropout=prm['dropout'])
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels[9], channels[10], 1, 1, 0, bias=False),
            nn.BatchNorm2d(channels[10]),
            nn.SiLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[10], out_shape[0], bias=False)

    def forward(self, x):
        x = self.conv1(x)
        x = self.mv2(x)
        x = self.mvit1(x)
        x = self.mvit2(self.down2(x))
        x = self.mvit3(self.down3(x))
        x = self.conv2(x)
        x = self.pool(x).flatten(1)
        return self.fc(x)

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
