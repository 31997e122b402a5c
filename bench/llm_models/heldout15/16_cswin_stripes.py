# undefined: img2windows, windows2img
import torch
import torch.nn as nn
import torch.nn.functional as F


class StripeAttention(nn.Module):
    """Cross-shaped window self-attention (CSWin): half of the heads attend inside
    horizontal stripes, the other half inside vertical stripes."""

    def __init__(self, dim, resolution, split_size=2, num_heads=4, attn_drop=0.0):
        super().__init__()
        assert dim % 2 == 0 and num_heads % 2 == 0
        self.dim = dim
        self.resolution = resolution
        self.split_size = split_size
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(attn_drop)
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        # locally-enhanced positional encoding (LePE) per branch
        self.get_v = nn.ModuleList([nn.Conv2d(dim // 2, dim // 2, 3, 1, 1, groups=dim // 2) for _ in range(2)])

    def _branch(self, q, k, v, H_sp, W_sp, idx):
        # q, k, v: (B, L, C') token sequences
        B, L, C = q.shape
        H = W = self.resolution
        heads = self.num_heads // 2

        def to_windows(t):
            t = t.transpose(-2, -1).contiguous().view(B, C, H, W)
            t = img2windows(t, H_sp, W_sp)                               # (B*nW, H_sp*W_sp, C)
            return t.reshape(-1, H_sp * W_sp, heads, C // heads).permute(0, 2, 1, 3)

        q, k = to_windows(q), to_windows(k)

        # LePE on v
        v_img = v.transpose(-2, -1).contiguous().view(B, C, H, W)
        v_img = v_img.view(B, C, H // H_sp, H_sp, W // W_sp, W_sp)
        v_img = v_img.permute(0, 2, 4, 1, 3, 5).contiguous().reshape(-1, C, H_sp, W_sp)
        lepe = self.get_v[idx](v_img)
        lepe = lepe.reshape(-1, heads, C // heads, H_sp * W_sp).permute(0, 1, 3, 2)
        v = v_img.reshape(-1, heads, C // heads, H_sp * W_sp).permute(0, 1, 3, 2)

        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = attn @ v + lepe                                               # (B*nW, heads, H_sp*W_sp, hd)
        x = x.transpose(1, 2).reshape(-1, H_sp * W_sp, C)
        x = windows2img(x, H_sp, W_sp, H, W)                              # (B, H, W, C)
        return x.view(B, -1, C)

    def forward(self, x):
        B, L, C = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, C).permute(2, 0, 1, 3)
        half = C // 2
        res, sp = self.resolution, self.split_size
        x1 = self._branch(qkv[0][..., :half], qkv[1][..., :half], qkv[2][..., :half], res, sp, 0)
        x2 = self._branch(qkv[0][..., half:], qkv[1][..., half:], qkv[2][..., half:], sp, res, 1)
        return self.proj(torch.cat([x1, x2], dim=2))


class CSWinBlock(nn.Module):
    def __init__(self, dim, resolution, split_size, num_heads, mlp_ratio=2.0, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = StripeAttention(dim, resolution, split_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Dropout(drop),
            nn.Linear(int(dim * mlp_ratio), dim), nn.Dropout(drop),
        )

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class MergeBlock(nn.Module):
    def __init__(self, dim, dim_out):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, 2, 1)
        self.norm = nn.LayerNorm(dim_out)

    def forward(self, x):
        B, L, C = x.shape
        H = W = int(L ** 0.5)
        x = x.transpose(-2, -1).contiguous().view(B, C, H, W)
        x = self.conv(x)
        x = x.flatten(2).transpose(-1, -2)
        return self.norm(x)


class Net(nn.Module):
    def __init__(self, num_classes=10, embed_dim=32, depth=(1, 2, 1), split_size=(2, 2, 4), num_heads=(2, 4, 8)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, embed_dim, 4, 2, 1))    # 16x16 tokens
        self.stem_norm = nn.LayerNorm(embed_dim)
        dims = [embed_dim, embed_dim * 2, embed_dim * 4]
        res = [16, 8, 4]
        self.stages = nn.ModuleList()
        self.merges = nn.ModuleList()
        for i in range(3):
            self.stages.append(nn.Sequential(*[
                CSWinBlock(dims[i], res[i], split_size[i], num_heads[i]) for _ in range(depth[i])
            ]))
            if i < 2:
                self.merges.append(MergeBlock(dims[i], dims[i + 1]))
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.stem_norm(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.merges):
                x = self.merges[i](x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)
