# undefined: posemb_sincos_1d
# input: 2,3,64 float32
import torch
import torch.nn as nn
from einops.layers.torch import Rearrange


class Net(nn.Module):
    """SimpleViT-1D for multichannel time series (batch, channels, seq_len)."""

    def __init__(self, seq_len=64, patch_size=8, num_classes=10, dim=64, depth=2, heads=4,
                 mlp_dim=128, channels=3):
        super().__init__()
        assert seq_len % patch_size == 0
        patch_dim = channels * patch_size
        self.to_patch_embedding = nn.Sequential(
            Rearrange('b c (n p) -> b n (p c)', p=patch_size),
            nn.LayerNorm(patch_dim),
            nn.Linear(patch_dim, dim),
            nn.LayerNorm(dim),
        )
        layer = nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout=0.0, activation='gelu',
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth)
        self.to_latent = nn.Identity()
        self.linear_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, series):
        x = self.to_patch_embedding(series)
        pe = posemb_sincos_1d(x)
        x = x + pe
        x = self.transformer(x)
        x = x.mean(dim=1)
        x = self.to_latent(x)
        return self.linear_head(x)
