# undefined: MixFFN
import torch
import torch.nn as nn


class OverlapPatchEmbedding(nn.Module):
    def __init__(self, in_channels, embed_dims, kernel_size=3, stride=2):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size, stride, kernel_size // 2)
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6)

    def forward(self, x):
        x = self.proj(x)
        hw_shape = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x), hw_shape


class EfficientSelfAttention(nn.Module):
    """Spatial-reduction attention of SegFormer (keys/values are down-sampled by sr_ratio)."""

    def __init__(self, embed_dims, num_heads, sr_ratio=1):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x, hw_shape, identity=None):
        if identity is None:
            identity = x
        x_kv = x
        if self.sr_ratio > 1:
            B, N, C = x.shape
            x_kv = x.transpose(1, 2).reshape(B, C, *hw_shape)
            x_kv = self.sr(x_kv).flatten(2).transpose(1, 2)
            x_kv = self.norm(x_kv)
        out = self.attn(x, x_kv, x_kv, need_weights=False)[0]
        return identity + out


class SegFormerLayer(nn.Module):
    def __init__(self, embed_dims, num_heads, mlp_ratio=4, sr_ratio=1, drop_path_rate=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=1e-6)
        self.attn = EfficientSelfAttention(embed_dims, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(embed_dims, eps=1e-6)
        self.ffn = MixFFN(
            embed_dims=embed_dims,
            feedforward_channels=mlp_ratio * embed_dims,
            act_cfg=dict(type="GELU"),
            ffn_drop=0.0,
            dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
        )

    def forward(self, x, hw_shape):
        x = self.attn(self.norm1(x), hw_shape, identity=x)
        x = self.ffn(self.norm2(x), hw_shape, identity=x)
        return x


class Net(nn.Module):
    """Two-stage MiT (SegFormer encoder) used as an image classifier."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        dims = (32, 64)
        heads = (1, 2)
        sr_ratios = (4, 2)
        depths = (2, 2)
        dpr = torch.linspace(0, prm.get("drop_path", 0.1), sum(depths)).tolist()

        self.stages = nn.ModuleList()
        in_ch, cur = in_shape[1], 0
        for i in range(len(dims)):
            patch_embed = OverlapPatchEmbedding(in_ch, dims[i], kernel_size=7 if i == 0 else 3, stride=2)
            layers = nn.ModuleList([
                SegFormerLayer(dims[i], heads[i], mlp_ratio=4, sr_ratio=sr_ratios[i], drop_path_rate=dpr[cur + j])
                for j in range(depths[i])
            ])
            norm = nn.LayerNorm(dims[i], eps=1e-6)
            self.stages.append(nn.ModuleList([patch_embed, layers, norm]))
            in_ch, cur = dims[i], cur + depths[i]
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        for patch_embed, layers, norm in self.stages:
            x, hw_shape = patch_embed(x)
            for layer in layers:
                x = layer(x, hw_shape)
            x = norm(x)
            x = x.transpose(1, 2).reshape(x.shape[0], -1, *hw_shape)
        x = x.mean(dim=(2, 3))
        return self.head(x)
