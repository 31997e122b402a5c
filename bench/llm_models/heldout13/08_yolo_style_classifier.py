# undefined: Bottleneck, Classify
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """YOLO-cls style backbone for CIFAR-10: strided conv downsamples + stacks of CSP-free bottlenecks."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        c_in = in_shape[1]
        nc = out_shape[0]
        widths = [32, 64, 128, 256]
        depths = [1, 2, 2, 1]

        layers = [nn.Conv2d(c_in, widths[0], 3, 1, 1, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.SiLU(inplace=True)]
        c1 = widths[0]
        for i, (c2, n) in enumerate(zip(widths, depths)):
            if i > 0:
                # strided 3x3 downsample between stages (32 -> 16 -> 8 -> 4)
                layers += [nn.Conv2d(c1, c2, 3, 2, 1, bias=False), nn.BatchNorm2d(c2), nn.SiLU(inplace=True)]
            # Bottleneck(c1, c2, shortcut, g, k, e)
            layers += [Bottleneck(c2, c2, True, 1, (3, 3), 0.5) for _ in range(n)]
            c1 = c2
        self.backbone = nn.Sequential(*layers)
        self.dropout = nn.Dropout2d(prm['dropout'])
        self.head = Classify(c1, nc)

    def forward(self, x):
        x = self.backbone(x)
        x = self.dropout(x)
        x = self.head(x)
        if isinstance(x, tuple):  # eval mode of the head returns (probs, probs)
            x = x[0]
        return x

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'],
                                         momentum=prm['momentum'], nesterov=True)

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
