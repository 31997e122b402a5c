# undefined: MixerBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        image_size = in_shape[2]
        num_classes = out_shape[0]
        patch_size = 4
        dim = 256
        depth = 8
        token_dim = 128
        channel_dim = 512

        assert image_size % patch_size == 0, "Image dimensions must be divisible by the patch size."
        self.num_patch = (image_size // patch_size) ** 2
        self.to_patch_embedding = nn.Conv2d(in_channels, dim, patch_size, patch_size)

        self.mixer_blocks = nn.ModuleList([])
        for _ in range(depth):
            self.mixer_blocks.append(
                MixerBlock(dim=dim, num_patch=self.num_patch, token_dim=token_dim, channel_dim=channel_dim,
                           dropout=prm.get("dropout", 0.0))
            )
        self.layer_norm = nn.LayerNorm(dim)
        self.mlp_head = nn.Sequential(nn.Linear(dim, num_classes))
        self.to(device)

    def forward(self, x):
        x = self.to_patch_embedding(x)
        x = x.flatten(2).transpose(1, 2)  # b, n, c
        for mixer_block in self.mixer_blocks:
            x = mixer_block(x)
        x = self.layer_norm(x)
        x = x.mean(dim=1)
        return self.mlp_head(x)
