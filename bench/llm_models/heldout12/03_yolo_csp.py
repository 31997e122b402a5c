# undefined: Conv, C2f, SPPF
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """YOLOv8-n style CSP backbone (Conv / C2f / SPPF) with a classification head for CIFAR-10."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        c_in = in_shape[1]
        nc = out_shape[0]
        w = [16, 32, 64, 128, 256]
        self.backbone = nn.Sequential(
            Conv(c_in, w[0], 3, 1),          # 32x32
            Conv(w[0], w[1], 3, 2),          # 16x16
            C2f(w[1], w[1], 1, True),
            Conv(w[1], w[2], 3, 2),          # 8x8
            C2f(w[2], w[2], 2, True),
            Conv(w[2], w[3], 3, 2),          # 4x4
            C2f(w[3], w[3], 2, True),
            Conv(w[3], w[4], 3, 1),
            C2f(w[4], w[4], 1, True),
            SPPF(w[4], w[4], k=5),
        )
        self.head = nn.Sequential(
            Conv(w[4], 640, 1, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Dropout(p=prm['dropout'], inplace=True),
            nn.Linear(640, nc),
        )

    def forward(self, x):
        return self.head(self.backbone(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         nesterov=True)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 10.0)
            self.optimizer.step()
