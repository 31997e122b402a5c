# undefined: rearrange, repeat
import torch
import torch.nn as nn


class Net(nn.Module):
    """Tiny ViT: patchify with einops, CLS token, nn.TransformerEncoder."""

    def __init__(self, image_size=32, patch_size=4, num_classes=10, dim=96, depth=3, heads=4,
                 mlp_dim=192, channels=3, dropout=0.1):
        super().__init__()
        assert image_size % patch_size == 0
        num_patches = (image_size // patch_size) ** 2
        patch_dim = channels * patch_size * patch_size
        self.patch_size = patch_size
        self.patch_norm = nn.LayerNorm(patch_dim)
        self.to_embedding = nn.Linear(patch_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout, activation='gelu',
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, img):
        p = self.patch_size
        x = rearrange(img, 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=p, p2=p)
        x = self.to_embedding(self.patch_norm(x))
        b, n, _ = x.shape
        cls_tokens = repeat(self.cls_token, '1 1 d -> b 1 d', b=b)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embedding[:, :n + 1]
        x = self.transformer(self.dropout(x))
        return self.head(self.norm(x[:, 0]))
