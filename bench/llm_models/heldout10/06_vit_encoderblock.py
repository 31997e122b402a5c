# undefined: EncoderBlock, FrozenBatchNorm2d
from functools import partial

import torch
import torch.nn as nn


class Net(nn.Module):
    """ViT with a small convolutional stem (torchvision vit_b style encoder blocks)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        image_size = in_shape[2]
        patch_size = 4
        hidden_dim = 128
        mlp_dim = 256
        num_heads = 4
        num_layers = 4
        dropout = prm.get("dropout", 0.0)
        attention_dropout = prm.get("attention_dropout", 0.0)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        # conv stem with frozen BN (ViTDet / "early convolutions" style)
        self.conv_stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            FrozenBatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.conv_proj = nn.Conv2d(32, hidden_dim, kernel_size=patch_size, stride=patch_size)
        seq_length = (image_size // patch_size) ** 2
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_length += 1
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        layers = []
        for i in range(num_layers):
            layers.append(EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, norm_layer))
        self.layers = nn.Sequential(*layers)
        self.ln = norm_layer(hidden_dim)
        self.head = nn.Linear(hidden_dim, num_classes)
        self.hidden_dim = hidden_dim

    def _process_input(self, x):
        x = self.conv_stem(x)
        x = self.conv_proj(x)  # (n, hidden_dim, h/p, w/p)
        n = x.shape[0]
        x = x.reshape(n, self.hidden_dim, -1)
        return x.permute(0, 2, 1)  # (n, seq, hidden_dim)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = self.dropout(x + self.pos_embedding)
        x = self.layers(x)
        x = self.ln(x)
        return self.head(x[:, 0])
