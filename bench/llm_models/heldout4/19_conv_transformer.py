# undefined: PositionalEncoding, MultiHeadAttention, Mlp
import torch
import torch.nn as nn


class TransformerLayer(nn.Module):
    def __init__(self, d_model, num_heads, mlp_ratio=4.0, dropout=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = Mlp(in_features=d_model, hidden_features=int(d_model * mlp_ratio), drop=dropout)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h)
        x = x + self.mlp(self.norm2(x))
        return x


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        d_model = 192
        num_heads = 6
        num_layers = 4
        dropout = prm.get("dropout", 0.1)

        # convolutional tokenizer: 32x32 -> 8x8 tokens
        self.tokenizer = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, d_model, 3, 2, 1, bias=False),
            nn.BatchNorm2d(d_model),
            nn.ReLU(inplace=True),
        )
        num_tokens = (in_shape[2] // 4) * (in_shape[3] // 4)

        self.pos_encoding = PositionalEncoding(d_model, dropout=dropout, max_len=num_tokens)
        self.layers = nn.ModuleList([
            TransformerLayer(d_model, num_heads, mlp_ratio=2.0, dropout=dropout) for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        x = self.tokenizer(x)                 # B, C, H, W
        x = x.flatten(2).transpose(1, 2)      # B, N, C
        x = self.pos_encoding(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)
