# undefined: OutlookAttention, WeightedPermuteMLP
import torch
import torch.nn as nn


class ChannelMlp(nn.Module):
    def __init__(self, dim, ratio=3.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * ratio))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(int(dim * ratio), dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class OutlookLayer(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = OutlookAttention(dim, num_heads=heads, kernel_size=3, padding=1, stride=1,
                                     qkv_bias=False, attn_drop=0.0)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ChannelMlp(dim)

    def forward(self, x):  # B, H, W, C
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PermutatorLayer(nn.Module):
    def __init__(self, dim, segment_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WeightedPermuteMLP(dim, seg_dim=segment_dim, qkv_bias=False, proj_drop=0.0)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ChannelMlp(dim)

    def forward(self, x):  # B, H, W, C
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    """VOLO outlooker stage followed by Vision-Permutator stage on an 8x8 token grid."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dim = 128
        grid = in_shape[2] // 4
        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_shape[1], dim // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // 2, dim, 2, 2),
        )
        self.outlookers = nn.Sequential(OutlookLayer(dim, heads=4), OutlookLayer(dim, heads=4))
        self.permutators = nn.Sequential(
            PermutatorLayer(dim, segment_dim=grid), PermutatorLayer(dim, segment_dim=grid)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x).permute(0, 2, 3, 1)  # B, 8, 8, C
        x = self.outlookers(x)
        x = self.permutators(x)
        x = self.norm(x).mean(dim=(1, 2))
        return self.head(x)
