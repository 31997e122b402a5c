# undefined: GhostBottleneck, make_divisible
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


# k, exp, c, se_ratio, stride  (GhostNet-1.0 style, shortened for CIFAR-10)
CFGS = [
    [3, 16, 16, 0.0, 1],
    [3, 48, 24, 0.0, 2],
    [3, 72, 24, 0.0, 1],
    [5, 72, 40, 0.25, 2],
    [5, 120, 40, 0.25, 1],
    [3, 240, 80, 0.0, 2],
    [3, 184, 80, 0.0, 1],
    [3, 480, 112, 0.25, 1],
]


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        width = 1.0
        num_classes = out_shape[0]
        stem_chs = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(in_shape[1], stem_chs, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = nn.ReLU(inplace=True)

        blocks = []
        in_chs = stem_chs
        for k, exp, c, se_ratio, s in CFGS:
            out_chs = make_divisible(c * width, 4)
            mid_chs = make_divisible(exp * width, 4)
            blocks.append(GhostBottleneck(in_chs, mid_chs, out_chs, k, s, se_ratio=se_ratio))
            in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)

        out_chs = make_divisible(480 * width, 4)
        self.conv_last = nn.Sequential(
            nn.Conv2d(in_chs, out_chs, 1, bias=False),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(out_chs, 1280, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.dropout = prm['dropout']
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.conv_last(x)
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.flatten(1)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=4e-5)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
