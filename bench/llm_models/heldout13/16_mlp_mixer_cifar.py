# undefined: PreNormResidual, FeedForward
from functools import partial
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops.layers.torch import Rearrange, Reduce


class Net(nn.Module):
    """MLP-Mixer for CIFAR-10: 4x4 patches (64 tokens), token-mixing via Conv1d, channel-mixing via Linear."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = torch.device(device)
        channels, image_h, image_w = in_shape[1], in_shape[2], in_shape[3]
        patch_size = 4
        dim = 256
        depth = 6
        expansion_factor = 4
        expansion_factor_token = 0.5
        dropout = prm.get('dropout', 0.0)
        num_patches = (image_h // patch_size) * (image_w // patch_size)
        chan_first, chan_last = partial(nn.Conv1d, kernel_size=1), nn.Linear

        self.to_patches = nn.Sequential(
            Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=patch_size, p2=patch_size),
            nn.Linear((patch_size ** 2) * channels, dim),
        )
        self.mixer = nn.Sequential(*[
            nn.Sequential(
                PreNormResidual(dim, FeedForward(num_patches, expansion_factor, dropout, chan_first)),
                PreNormResidual(dim, FeedForward(dim, expansion_factor_token, dropout, chan_last)),
            ) for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(dim)
        self.pool = Reduce('b n c -> b c', 'mean')
        self.head = nn.Linear(dim, out_shape[0])
        self._reset_parameters()

    def _reset_parameters(self):
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.weight)

    def forward(self, x):
        x = self.to_patches(x)          # [B, N, dim]
        x = self.mixer(x)
        x = self.pool(self.norm(x))     # [B, dim]
        return self.head(x)
