# undefined: resample_abs_pos_embed
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Small ViT whose absolute position embedding is kept at a fixed 'pretrain' grid
    (14x14) and resampled on the fly to the actual patch grid (timm dynamic_img_size)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        self.embed_dim = embed_dim = prm.get("embed_dim", 96)
        depth = prm.get("depth", 4)
        num_heads = prm.get("num_heads", 3)
        self.patch_size = prm.get("patch_size", 4)
        self.pretrain_grid = (14, 14)
        self.num_prefix_tokens = 1

        self.patch_embed = nn.Conv2d(in_shape[1], embed_dim, self.patch_size, self.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        num_patches = self.pretrain_grid[0] * self.pretrain_grid[1]
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + self.num_prefix_tokens, embed_dim) * 0.02)
        self.pos_drop = nn.Dropout(0.0)
        layer = nn.TransformerEncoderLayer(
            d_model=embed_dim, nhead=num_heads, dim_feedforward=embed_dim * 4,
            dropout=0.0, activation="gelu", batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def _pos_embed(self, x):
        B, H, W, C = x.shape
        pos_embed = resample_abs_pos_embed(
            self.pos_embed,
            (H, W),
            num_prefix_tokens=self.num_prefix_tokens,
        )
        x = x.view(B, -1, C)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + pos_embed
        return self.pos_drop(x)

    def forward(self, x):
        x = self.patch_embed(x).permute(0, 2, 3, 1)  # NHWC
        x = self._pos_embed(x)
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])
