# undefined: SwinTransformerBlockV2, PatchMergingV2
import torch
import torch.nn as nn


class PatchEmbedNHWC(nn.Module):
    def __init__(self, in_ch=3, dim=48, patch=2):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x).permute(0, 2, 3, 1)  # B, H, W, C (torchvision swin layout)
        return self.norm(x)


class TinySwinV2(nn.Module):
    """Candidate #17 from the search: 2-stage Swin-V2 for 32x32 inputs."""

    def __init__(self, num_classes=10, embed_dim=48, depths=(2, 2), num_heads=(3, 6),
                 window_size=(4, 4), drop_path=0.1):
        super().__init__()
        self.patch_embed = PatchEmbedNHWC(3, embed_dim, patch=4)  # 8x8 tokens
        total = sum(depths)
        dpr = [drop_path * i / max(total - 1, 1) for i in range(total)]
        stages, dim, k = [], embed_dim, 0
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            blocks = []
            for j in range(depth):
                blocks.append(SwinTransformerBlockV2(
                    dim, heads, window_size=list(window_size),
                    shift_size=[0 if j % 2 == 0 else w // 2 for w in window_size],
                    mlp_ratio=4.0, stochastic_depth_prob=dpr[k], norm_layer=nn.LayerNorm))
                k += 1
            stages.append(nn.Sequential(*blocks))
            if i < len(depths) - 1:
                stages.append(PatchMergingV2(dim, norm_layer=nn.LayerNorm))
                dim *= 2
        self.features = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.features(x)
        x = self.norm(x)
        x = x.mean(dim=(1, 2))
        return self.head(x)
