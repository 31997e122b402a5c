# undefined: ConvEncoder, XCA
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dims = [48, 96]
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], dims[0], kernel_size=2, stride=2), nn.BatchNorm2d(dims[0]))
        self.stage1 = nn.Sequential(*[ConvEncoder(dim=dims[0], drop_path=0.0, layer_scale_init_value=1e-6,
                                                  expan_ratio=4, kernel_size=7) for _ in range(2)])
        self.down = nn.Sequential(nn.BatchNorm2d(dims[0]), nn.Conv2d(dims[0], dims[1], kernel_size=2, stride=2))
        self.stage2 = nn.Sequential(*[ConvEncoder(dim=dims[1], kernel_size=5) for _ in range(2)])
        self.norm_xca = nn.LayerNorm(dims[1])
        self.xca = XCA(dims[1], num_heads=4)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dims[1]))
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.down(x)
        x = self.stage2(x)
        x = x.flatten(2).transpose(1, 2)  # B, N, C
        x = x + self.gamma * self.xca(self.norm_xca(x))
        x = self.norm(x.mean(dim=1))
        return self.head(x)
