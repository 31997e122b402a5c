# undefined: SPT, LSA
import torch
import torch.nn as nn


class Net(nn.Module):
    """'Vision Transformer for Small-Size Datasets' (Lee et al., 2021):
    Shifted Patch Tokenization (SPT) + Locality Self-Attention (LSA)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        image_size = in_shape[2]
        patch_size = prm.get("patch_size", 4)
        dim = prm.get("dim", 128)
        depth = prm.get("depth", 3)
        heads = prm.get("heads", 4)
        dim_head = prm.get("dim_head", 32)
        mlp_dim = prm.get("mlp_dim", 256)
        dropout = prm.get("dropout", 0.1)
        num_patches = (image_size // patch_size) ** 2

        self.to_patch_embedding = SPT(dim=dim, patch_size=patch_size, channels=in_shape[1])
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.dropout = nn.Dropout(dropout)

        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([
                LSA(dim, heads=heads, dim_head=dim_head, dropout=dropout),
                nn.Sequential(
                    nn.LayerNorm(dim),
                    nn.Linear(dim, mlp_dim),
                    nn.GELU(),
                    nn.Dropout(dropout),
                    nn.Linear(mlp_dim, dim),
                    nn.Dropout(dropout),
                ),
            ]))
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_shape[0]))

    def forward(self, img):
        x = self.to_patch_embedding(img)
        b, n, _ = x.shape
        cls_tokens = self.cls_token.expand(b, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embedding[:, :(n + 1)]
        x = self.dropout(x)
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.mlp_head(x[:, 0])
