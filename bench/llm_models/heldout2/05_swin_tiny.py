import torch
import torch.nn as nn


class Net(nn.Module):
    """Tiny Swin Transformer for CIFAR-10 (4x4 patches -> 8x8 token grid)."""

    def __init__(self, num_classes=10, embed_dim=64, depths=(2, 2), num_heads=(2, 4), window_size=4):
        super().__init__()
        self.patch_embed = nn.Sequential(
            nn.Conv2d(3, embed_dim, kernel_size=4, stride=4),
            Permute([0, 2, 3, 1]),  # B C H W -> B H W C
            nn.LayerNorm(embed_dim),
        )
        layers = []
        dim = embed_dim
        total = sum(depths)
        idx = 0
        for i, depth in enumerate(depths):
            for j in range(depth):
                shift = [0, 0] if j % 2 == 0 else [window_size // 2, window_size // 2]
                layers.append(SwinTransformerBlock(
                    dim, num_heads[i], window_size=[window_size, window_size], shift_size=shift,
                    mlp_ratio=4.0, dropout=0.0, attention_dropout=0.0,
                    stochastic_depth_prob=0.1 * idx / (total - 1)))
                idx += 1
            if i < len(depths) - 1:
                layers.append(PatchMerging(dim, norm_layer=nn.LayerNorm))
                dim *= 2
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.layers(x)          # B, H, W, C
        x = self.norm(x)
        x = x.permute(0, 3, 1, 2)   # back to B, C, H, W
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)
