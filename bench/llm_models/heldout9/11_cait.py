# undefined: ClassAttention, get_2d_sincos_pos_embed
import torch
import torch.nn as nn


class SABlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class CABlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ClassAttention(dim, num_heads=heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))
        self.gamma1 = nn.Parameter(1e-5 * torch.ones(dim))
        self.gamma2 = nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x, x_cls):
        u = torch.cat((x_cls, x), dim=1)
        x_cls = x_cls + self.gamma1 * self.attn(self.norm1(u))
        x_cls = x_cls + self.gamma2 * self.mlp(self.norm2(x_cls))
        return x_cls


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dim, heads, patch = 128, 4, 4
        grid = in_shape[2] // patch
        self.patch_embed = nn.Conv2d(in_shape[1], dim, kernel_size=patch, stride=patch)
        pos = get_2d_sincos_pos_embed(dim, grid, cls_token=False)
        self.pos_embed = nn.Parameter(torch.from_numpy(pos).float().unsqueeze(0), requires_grad=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([SABlock(dim, heads) for _ in range(4)])
        self.blocks_token_only = nn.ModuleList([CABlock(dim, heads) for _ in range(2)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x):
        B = x.shape[0]
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        cls = self.cls_token.expand(B, -1, -1)
        for blk in self.blocks_token_only:
            cls = blk(x, cls)
        x = self.norm(torch.cat((cls, x), dim=1))
        return self.head(x[:, 0])
