# undefined: pair, FeedForward
import torch
import torch.nn as nn


class MixerLayer(nn.Module):
    def __init__(self, num_patches, dim, token_hidden, channel_hidden, dropout=0.0):
        super().__init__()
        self.token_mix = FeedForward(num_patches, token_hidden, dropout=dropout)
        self.channel_mix = FeedForward(dim, channel_hidden, dropout=dropout)

    def forward(self, x):  # x: (B, N, C)
        x = x + self.token_mix(x.transpose(1, 2)).transpose(1, 2)
        x = x + self.channel_mix(x)
        return x


class Net(nn.Module):
    """MLP-Mixer written in vit-pytorch style, no einops."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        image_size = in_shape[2]
        patch_size = 4
        dim = 128
        depth = 4
        dropout = prm.get("dropout", 0.1)
        image_height, image_width = pair(image_size)
        patch_height, patch_width = pair(patch_size)
        assert image_height % patch_height == 0 and image_width % patch_width == 0
        self.ph, self.pw = patch_height, patch_width
        num_patches = (image_height // patch_height) * (image_width // patch_width)
        patch_dim = in_shape[1] * patch_height * patch_width
        self.to_patch_embedding = nn.Sequential(nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.layers = nn.ModuleList(
            [MixerLayer(num_patches, dim, num_patches * 2, dim * 4, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        self.mlp_head = nn.Linear(dim, out_shape[0])

    def forward(self, img):
        b, c, h, w = img.shape
        # b c (h p1) (w p2) -> b (h w) (p1 p2 c)
        x = img.reshape(b, c, h // self.ph, self.ph, w // self.pw, self.pw)
        x = x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // self.ph) * (w // self.pw), -1)
        x = self.to_patch_embedding(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        return self.mlp_head(x)
