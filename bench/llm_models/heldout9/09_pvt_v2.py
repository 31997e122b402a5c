# undefined: OverlapPatchEmbed, SpatialReductionAttention
import torch
import torch.nn as nn


class PVTBlock(nn.Module):
    def __init__(self, dim, num_heads, sr_ratio, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SpatialReductionAttention(dim, num_heads=num_heads, sr_ratio=sr_ratio)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x, H, W):
        x = x + self.attn(self.norm1(x), H, W)
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        embed_dims = [64, 128]
        self.patch_embed1 = OverlapPatchEmbed(img_size=in_shape[2], patch_size=3, stride=2,
                                              in_chans=in_shape[1], embed_dim=embed_dims[0])
        self.block1 = nn.ModuleList([PVTBlock(embed_dims[0], 1, 4) for _ in range(2)])
        self.norm1 = nn.LayerNorm(embed_dims[0])
        self.patch_embed2 = OverlapPatchEmbed(img_size=in_shape[2] // 2, patch_size=3, stride=2,
                                              in_chans=embed_dims[0], embed_dim=embed_dims[1])
        self.block2 = nn.ModuleList([PVTBlock(embed_dims[1], 2, 2) for _ in range(2)])
        self.norm2 = nn.LayerNorm(embed_dims[1])
        self.head = nn.Linear(embed_dims[1], out_shape[0])

    def forward(self, x):
        B = x.shape[0]
        x, H, W = self.patch_embed1(x)
        for blk in self.block1:
            x = blk(x, H, W)
        x = self.norm1(x)
        x = x.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous()
        x, H, W = self.patch_embed2(x)
        for blk in self.block2:
            x = blk(x, H, W)
        x = self.norm2(x)
        return self.head(x.mean(dim=1))
