# undefined: AFT_FULL
import torch
import torch.nn as nn


class AFTLayer(nn.Module):
    def __init__(self, dim, num_tokens, mlp_ratio=2.0, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.aft = AFT_FULL(d_model=dim, n=num_tokens)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, int(dim * mlp_ratio)),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Linear(int(dim * mlp_ratio), dim),
        )

    def forward(self, x):
        x = x + self.aft(self.norm1(x))
        x = x + self.ffn(self.norm2(x))
        return x


class Net(nn.Module):
    """Attention Free Transformer over 4x4 patches (B, N, C tokens)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.patch = 4
        self.dim = 128
        h = in_shape[2] // self.patch
        w = in_shape[3] // self.patch
        self.num_tokens = h * w
        self.to_tokens = nn.Conv2d(in_shape[1], self.dim, kernel_size=self.patch, stride=self.patch)
        self.pos = nn.Parameter(torch.zeros(1, self.num_tokens, self.dim))
        self.layers = nn.ModuleList(
            [AFTLayer(self.dim, self.num_tokens, drop=prm.get("dropout", 0.1)) for _ in range(4)]
        )
        self.norm = nn.LayerNorm(self.dim)
        self.fc = nn.Linear(self.dim, out_shape[0])

    def forward(self, x):
        x = self.to_tokens(x)  # (B, C, H, W)
        B, C, H, W = x.shape
        x = x.reshape(B, C, H * W).permute(0, 2, 1)  # (B, N, C)
        x = x + self.pos
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x).mean(dim=1)
        return self.fc(x)
