import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1)
        self.ca = ChannelAttention(64)
        self.sa = SpatialAttention(kernel_size=7)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.ca(x) * x
        x = self.sa(x) * x
        return self.fc(x.mean(dim=(2, 3)))
