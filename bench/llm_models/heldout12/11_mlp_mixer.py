# undefined: MixerBlock, PatchEmbed
import torch
import torch.nn as nn
import torch.nn.functional as F
from functools import partial


class Net(nn.Module):
    """MLP-Mixer (S/4-ish) for 32x32 inputs using timm-style building blocks."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        img_size = in_shape[-1]
        patch_size = 4
        embed_dim = 256
        num_blocks = 8
        drop = prm.get('dropout', 0.0)

        self.stem = PatchEmbed(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_shape[1],
            embed_dim=embed_dim,
        )
        seq_len = self.stem.num_patches
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        dpr = [x.item() for x in torch.linspace(0, 0.1, num_blocks)]
        self.blocks = nn.Sequential(*[
            MixerBlock(
                embed_dim,
                seq_len,
                mlp_ratio=(0.5, 4.0),
                norm_layer=norm_layer,
                act_layer=nn.GELU,
                drop=drop,
                drop_path=dpr[i],
            )
            for i in range(num_blocks)
        ])
        self.norm = norm_layer(embed_dim)
        self.head_drop = nn.Dropout(drop)
        self.head = nn.Linear(embed_dim, out_shape[0])
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stem(x)          # (B, N, C)
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(self.head_drop(x))
