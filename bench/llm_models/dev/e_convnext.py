import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10, dims=(48, 96)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0]))
        self.stage1 = nn.Sequential(*[ConvNeXtBlock(dims[0]) for _ in range(2)])
        self.down = nn.Sequential(LayerNorm2d(dims[0]), nn.Conv2d(dims[0], dims[1], 2, stride=2))
        self.stage2 = nn.Sequential(*[ConvNeXtBlock(dims[1]) for _ in range(2)])
        self.head = nn.Linear(dims[1], num_classes)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.head(x.mean([-2, -1]))
