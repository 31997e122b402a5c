# undefined: XceptionBlock, SeparableConv
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        self.conv1 = nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)

        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False, grow_first=True)
        self.block2 = XceptionBlock(128, 256, 2, 2, start_with_relu=True, grow_first=True)
        self.block3 = XceptionBlock(256, 256, 3, 1, start_with_relu=True, grow_first=True)
        self.block4 = XceptionBlock(256, 384, 2, 2, start_with_relu=True, grow_first=False)

        self.conv3 = SeparableConv(384, 512, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout(float(prm.get("dropout", 0.2)))
        self.fc = nn.Linear(512, out_shape[0])

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.relu(self.bn3(self.conv3(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.dropout(x))
