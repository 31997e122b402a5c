# undefined: ConvMixerBlock, LKA
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dim = int(prm.get("dim", 128))
        depth = int(prm.get("depth", 6))
        patch_size = 2
        kernel_size = 5
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], dim, kernel_size=patch_size, stride=patch_size),
            nn.GELU(),
            nn.BatchNorm2d(dim),
        )
        self.blocks = nn.Sequential(*[ConvMixerBlock(dim, kernel_size=kernel_size) for _ in range(depth)])
        self.attn = LKA(dim)
        self.norm = nn.BatchNorm2d(dim)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(dim, out_shape[0]))

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = x + self.attn(x)
        x = self.norm(x)
        return self.head(x)
