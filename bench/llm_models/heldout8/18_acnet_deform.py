# undefined: ACBlock, DeformableConv2d
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """VGG-style CIFAR net with asymmetric-convolution blocks and deformable convs in the last stage."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        dropout = float(prm.get("dropout", 0.3))

        self.stage1 = nn.Sequential(
            ACBlock(in_ch, 32, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True),
            ACBlock(32, 32, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.stage2 = nn.Sequential(
            ACBlock(32, 64, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True),
            ACBlock(64, 64, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.deform1 = DeformableConv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(128)
        self.deform2 = DeformableConv2d(128, 128, kernel_size=3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(128)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(128, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.stage2(self.stage1(x))
        x = F.relu(self.bn1(self.deform1(x)))
        x = F.relu(self.bn2(self.deform2(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.drop(x))
