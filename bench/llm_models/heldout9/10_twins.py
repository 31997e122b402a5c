# undefined: GroupAttention, PosCNN
import torch
import torch.nn as nn


class LSABlock(nn.Module):
    def __init__(self, dim, num_heads, ws, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GroupAttention(dim, num_heads=num_heads, qkv_bias=True, ws=ws)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, H, W):
        x = x + self.attn(self.norm1(x), H, W)
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dim = int(prm.get("dim", 96))
        depth = 4
        self.patch_embed = nn.Conv2d(in_shape[1], dim, kernel_size=4, stride=4)
        self.pe_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([LSABlock(dim, num_heads=3, ws=4) for _ in range(depth)])
        self.pos_block = PosCNN(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x)
        H, W = x.shape[2], x.shape[3]
        x = self.pe_norm(x.flatten(2).transpose(1, 2))
        for i, blk in enumerate(self.blocks):
            x = blk(x, H, W)
            if i == 0:
                x = self.pos_block(x, H, W)
        x = self.norm(x)
        return self.head(x.mean(dim=1))
