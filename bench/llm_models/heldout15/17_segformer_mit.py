# undefined: nlc_to_nchw, nchw_to_nlc
import torch
import torch.nn as nn
import torch.nn.functional as F


class OverlapEmbed(nn.Module):
    """Overlapping patch embedding: strided conv, returns tokens and (H, W)."""

    def __init__(self, in_ch, dim, kernel_size, stride):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, kernel_size, stride, kernel_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x)
        hw_shape = (x.shape[2], x.shape[3])
        x = nchw_to_nlc(x)
        return self.norm(x), hw_shape


class SRAttention(nn.Module):
    """Efficient multi-head attention with spatial reduction of keys/values (MiT)."""

    def __init__(self, dim, num_heads, sr_ratio):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, hw_shape):
        x_q = x
        if self.sr_ratio > 1:
            x_kv = nlc_to_nchw(x, hw_shape)
            x_kv = self.sr(x_kv)
            x_kv = nchw_to_nlc(x_kv)
            x_kv = self.norm(x_kv)
        else:
            x_kv = x
        out, _ = self.attn(query=x_q, key=x_kv, value=x_kv, need_weights=False)
        return out


class MixFeedForward(nn.Module):
    def __init__(self, dim, hidden, drop=0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dw = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x, hw_shape):
        out = nlc_to_nchw(x, hw_shape)
        out = self.fc2(self.drop(self.act(self.dw(self.fc1(out)))))
        return nchw_to_nlc(self.drop(out))


class MiTLayer(nn.Module):
    def __init__(self, dim, num_heads, sr_ratio, mlp_ratio=4, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SRAttention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MixFeedForward(dim, dim * mlp_ratio, drop)

    def forward(self, x, hw_shape):
        x = x + self.attn(self.norm1(x), hw_shape)
        x = x + self.ffn(self.norm2(x), hw_shape)
        return x


class Net(nn.Module):
    """SegFormer MiT-b0-like encoder, shrunk for 32x32 images."""

    def __init__(self, num_classes=10, dims=(32, 64, 160), heads=(1, 2, 5), sr_ratios=(4, 2, 1), depths=(2, 2, 2)):
        super().__init__()
        self.embeds = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.norms = nn.ModuleList()
        in_ch = 3
        for i in range(len(dims)):
            k, s = (7, 2) if i == 0 else (3, 2)
            self.embeds.append(OverlapEmbed(in_ch, dims[i], k, s))
            self.blocks.append(nn.ModuleList([MiTLayer(dims[i], heads[i], sr_ratios[i]) for _ in range(depths[i])]))
            self.norms.append(nn.LayerNorm(dims[i]))
            in_ch = dims[i]
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(dims[-1], num_classes))

    def forward(self, x):
        for embed, blocks, norm in zip(self.embeds, self.blocks, self.norms):
            x, hw_shape = embed(x)          # 16x16 -> 8x8 -> 4x4
            for blk in blocks:
                x = blk(x, hw_shape)
            x = norm(x)
            x = nlc_to_nchw(x, hw_shape)
        x = x.mean(dim=(2, 3))
        return self.head(x)
