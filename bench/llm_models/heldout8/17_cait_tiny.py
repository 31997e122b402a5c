# undefined: PatchEmbed, TalkingHeadAttn, LayerScale
import torch
import torch.nn as nn
import torch.nn.functional as F


class CaiTBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=2.0, init_values=1e-4, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = TalkingHeadAttn(dim, num_heads=num_heads, qkv_bias=True, attn_drop=drop, proj_drop=drop)
        self.ls1 = LayerScale(dim, init_values=init_values)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim))
        self.ls2 = LayerScale(dim, init_values=init_values)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        img_size = in_shape[2]
        embed_dim = int(prm.get("embed_dim", 192))
        depth = int(prm.get("depth", 6))
        heads = 4
        drop = float(prm.get("dropout", 0.0))

        self.patch_embed = PatchEmbed(img_size=img_size, patch_size=4, in_chans=in_ch, embed_dim=embed_dim)
        num_patches = self.patch_embed.num_patches
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop)
        self.blocks = nn.ModuleList([CaiTBlock(embed_dim, heads, drop=drop) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.patch_embed(x)            # [B, N, C]
        x = self.pos_drop(x + self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x.mean(dim=1))
