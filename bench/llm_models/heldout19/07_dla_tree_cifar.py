# undefined: Tree, BasicBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Deep Layer Aggregation (DLA) for CIFAR, slimmed down: hierarchical Tree
    aggregation nodes over residual BasicBlocks (kuangliu/pytorch-cifar style)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        block = BasicBlock
        c = prm.get("base_width", 16)

        self.base = nn.Sequential(
            nn.Conv2d(in_shape[1], c, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        )
        self.layer1 = nn.Sequential(
            nn.Conv2d(c, 2 * c, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(True),
        )
        self.layer2 = Tree(block, 2 * c, 2 * c, level=1, stride=1)
        self.layer3 = Tree(block, 2 * c, 4 * c, level=2, stride=2)
        self.layer4 = Tree(block, 4 * c, 8 * c, level=1, stride=2)
        self.linear = nn.Linear(8 * c, num_classes)

    def forward(self, x):
        out = self.base(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.adaptive_avg_pool2d(out, 1)
        out = out.view(out.size(0), -1)
        return self.linear(out)
