# undefined: TemporalConvNet
# input: 2,8,64 float32
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Temporal Convolutional Network (Bai et al., 2018) for multivariate time-series
    classification; input is (batch, channels, length), prediction from the last step."""

    def __init__(self, in_shape=(1, 8, 64), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        input_size = in_shape[1]
        nhid = prm.get("nhid", 32)
        levels = prm.get("levels", 4)
        kernel_size = prm.get("kernel_size", 3)
        dropout = prm.get("dropout", 0.1)
        num_channels = [nhid] * (levels - 1) + [2 * nhid]

        self.tcn = TemporalConvNet(input_size, num_channels, kernel_size=kernel_size, dropout=dropout)
        self.linear = nn.Linear(num_channels[-1], out_shape[0])
        self.linear.weight.data.normal_(0, 0.01)

    def forward(self, inputs):
        y1 = self.tcn(inputs)  # (N, C_out, L)
        return self.linear(y1[:, :, -1])
