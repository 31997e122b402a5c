import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, img_size=32, patch_size=4, hidden_dim=256, depth=8, drop_path_rate=0.1):
        super().__init__()
        num_patches = (img_size // patch_size) ** 2
        self.stem = nn.Sequential(
            nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size),
            Rearrange('b c h w -> b (h w) c'),
        )
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.Sequential(*[
            MixerBlock(hidden_dim, num_patches, mlp_ratio=(0.5, 4.0), drop_path=dpr[i])
            for i in range(depth)
        ])
        self.norm = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.head = nn.Linear(hidden_dim, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
