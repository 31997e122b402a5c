# undefined: TemporalBlock
# input: 2,16,32 float32
import torch
import torch.nn as nn


class TCNClassifier(nn.Module):
    """Temporal convolutional network over (batch, time, features) sequences."""

    def __init__(self, input_size=32, num_channels=(48, 48, 64), kernel_size=3, dropout=0.1, num_classes=10):
        super().__init__()
        layers = []
        num_levels = len(num_channels)
        for i in range(num_levels):
            dilation_size = 2 ** i
            in_channels = input_size if i == 0 else num_channels[i - 1]
            out_channels = num_channels[i]
            layers += [TemporalBlock(in_channels, out_channels, kernel_size, stride=1, dilation=dilation_size,
                                     padding=(kernel_size - 1) * dilation_size, dropout=dropout)]
        self.network = nn.Sequential(*layers)
        self.linear = nn.Linear(num_channels[-1], num_classes)

    def forward(self, x):
        y = self.network(x.transpose(1, 2))
        return self.linear(y[:, :, -1])
