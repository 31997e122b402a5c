# undefined: BaseConv, CSPLayer, SPPBottleneck
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout", "weight_decay"}


class Net(nn.Module):
    """Scaled-down CSPDarknet (YOLOX-nano-like) used as an image classifier."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        act = "silu"
        base = 16
        depth = 1

        self.stem = BaseConv(in_ch, base, 3, 1, act=act)                              # 32x32
        self.dark2 = nn.Sequential(
            BaseConv(base, base * 2, 3, 2, act=act),                                   # 16x16
            CSPLayer(base * 2, base * 2, n=depth, act=act),
        )
        self.dark3 = nn.Sequential(
            BaseConv(base * 2, base * 4, 3, 2, act=act),                               # 8x8
            CSPLayer(base * 4, base * 4, n=depth * 2, depthwise=True, act=act),
        )
        self.dark4 = nn.Sequential(
            BaseConv(base * 4, base * 8, 3, 2, act=act),                               # 4x4
            SPPBottleneck(base * 8, base * 8, activation=act),
            CSPLayer(base * 8, base * 8, n=depth, shortcut=False, act=act),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.1))
        self.fc = nn.Linear(base * 8, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.dark2(x)
        x = self.dark3(x)
        x = self.dark4(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.dropout(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(),
            lr=prm["lr"],
            momentum=prm["momentum"],
            weight_decay=prm.get("weight_decay", 5e-4),
            nesterov=True,
        )

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            self.optimizer.step()
