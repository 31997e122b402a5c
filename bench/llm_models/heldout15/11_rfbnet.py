# undefined: BasicRFB
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


def _vgg_stage(in_ch, out_ch, n_conv):
    layers = []
    for i in range(n_conv):
        layers += [
            nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class Net(nn.Module):
    """VGG-lite backbone with Receptive Field Blocks (RFB Net, ECCV'18) as
    multi-dilation feature enhancers, followed by a linear classifier."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.in_channels = in_shape[1]
        self.num_classes = out_shape[0]
        p_drop = prm["dropout"] if "dropout" in prm else 0.2

        self.conv1 = _vgg_stage(self.in_channels, 32, 2)      # 32x32
        self.pool1 = nn.MaxPool2d(2, 2)                        # 16x16
        self.conv2 = _vgg_stage(32, 64, 2)
        # RFB with stride 2 (16x16 -> 8x8), as in the extra layers of RFBNet
        self.rfb1 = BasicRFB(64, 128, stride=2, scale=1.0, visual=2)
        self.rfb2 = BasicRFB(128, 128, stride=1, scale=0.1, visual=1)
        self.rfb3 = BasicRFB(128, 192, stride=2, scale=1.0, visual=1)  # 4x4

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(p_drop),
            nn.Linear(192, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(p_drop),
            nn.Linear(128, self.num_classes),
        )
        self.to(device)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.conv2(x)
        x = self.rfb1(x)
        x = self.rfb2(x)
        x = self.rfb3(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

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
