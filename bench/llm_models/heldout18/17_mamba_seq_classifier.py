# undefined: Mamba
# input: 2,32,8 float32
import torch
import torch.nn as nn


class ResidualMambaBlock(nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(
            d_model=d_model,  # Model dimension d_model
            d_state=d_state,  # SSM state expansion factor
            d_conv=d_conv,    # Local convolution width
            expand=expand,    # Block expansion factor
        )

    def forward(self, x):
        return x + self.mixer(self.norm(x))


class Net(nn.Module):
    """Selective-SSM (Mamba) classifier for multivariate time series (batch, length, channels)."""

    def __init__(self, in_channels=8, d_model=64, n_layers=2, d_state=16, num_classes=10):
        super().__init__()
        self.embedding = nn.Linear(in_channels, d_model)
        self.layers = nn.ModuleList([ResidualMambaBlock(d_model, d_state=d_state) for _ in range(n_layers)])
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        x = self.embedding(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm_f(x)
        return self.head(x.mean(dim=1))
