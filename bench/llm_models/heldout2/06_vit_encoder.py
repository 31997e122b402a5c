import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, image_size=32, patch_size=4, hidden_dim=192,
                 depth=6, num_heads=3, mlp_dim=384, dropout=0.1):
        super().__init__()
        self.patch_size = to_2tuple(patch_size)
        img_size = to_2tuple(image_size)
        num_patches = (img_size[0] // self.patch_size[0]) * (img_size[1] // self.patch_size[1])
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, num_patches + 1, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(*[
            EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, 0.0) for _ in range(depth)
        ])
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.head = MLP(hidden_dim, [hidden_dim, num_classes], activation_layer=nn.GELU, dropout=0.0)

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x)              # B, D, 8, 8
        x = x.flatten(2).transpose(1, 2)   # B, 64, D
        cls = self.class_token.expand(n, -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embedding
        x = self.layers(self.dropout(x))
        x = self.ln(x)
        return self.head(x[:, 0])
