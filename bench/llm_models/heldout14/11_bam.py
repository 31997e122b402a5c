# undefined: BAM
import torch
import torch.nn as nn


def make_stage(cin, cout, n, stride):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride if i == 0 else 1, 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.layer1 = make_stage(3, 32, 2, 1)
        self.bam1 = BAM(32)
        self.layer2 = make_stage(32, 64, 2, 2)
        self.bam2 = BAM(64)
        self.layer3 = make_stage(64, 128, 2, 2)
        self.bam3 = BAM(128)
        self.layer4 = make_stage(128, 192, 1, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(192, num_classes)

    def forward(self, x):
        x = self.bam1(self.layer1(x))
        x = self.bam2(self.layer2(x))
        x = self.bam3(self.layer3(x))
        x = self.layer4(x)
        return self.fc(torch.flatten(self.pool(x), 1))
