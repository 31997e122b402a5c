# undefined: PatchEmbedding, TransformerEncoderBlock, ClassificationHead
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Tiny ViT for CIFAR-10: 4x4 patches -> 64 tokens + cls token, 6 encoder blocks, mean-pool head."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = torch.device(device)
        in_channels = in_shape[1]
        img_size = in_shape[2]
        n_classes = out_shape[0]
        patch_size = 4
        emb_size = 192
        depth = 6
        drop_p = prm.get('dropout', 0.1)

        self.patch_embedding = PatchEmbedding(in_channels, patch_size, emb_size, img_size)
        self.encoder = nn.Sequential(*[
            TransformerEncoderBlock(emb_size=emb_size, num_heads=6, drop_p=drop_p,
                                    forward_expansion=2, forward_drop_p=drop_p)
            for _ in range(depth)
        ])
        self.head = ClassificationHead(emb_size, n_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embedding(x)      # [B, 1 + (H/p)*(W/p), E]
        x = self.encoder(x)
        return self.head(x)              # [B, n_classes]
