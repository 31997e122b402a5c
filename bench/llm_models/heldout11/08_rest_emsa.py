# undefined: EMSA, NormMlpClassifierHead
import torch
import torch.nn as nn


class ResTLayer(nn.Module):
    def __init__(self, dim, heads, H, W, sr_ratio, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EMSA(d_model=dim, d_k=dim // heads, d_v=dim // heads, h=heads,
                         dropout=0.0, H=H, W=W, ratio=sr_ratio, apply_transform=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y)
        x = x + self.ffn(self.norm2(x))
        return x


class ConvPatch(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, 3, stride, 1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.norm(self.proj(x))


class Net(nn.Module):
    """ResT-lite: efficient multi-head self-attention (EMSA) + timm NormMlp head."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.dims = (64, 128)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            ConvPatch(32, self.dims[0], 2),
        )  # 8x8
        self.stage1 = nn.ModuleList([ResTLayer(self.dims[0], 2, 8, 8, sr_ratio=2) for _ in range(2)])
        self.down = ConvPatch(self.dims[0], self.dims[1], 2)  # 4x4
        self.stage2 = nn.ModuleList([ResTLayer(self.dims[1], 4, 4, 4, sr_ratio=2) for _ in range(2)])
        self.head = NormMlpClassifierHead(
            self.dims[1], out_shape[0], hidden_size=self.dims[1] * 2,
            pool_type="avg", drop_rate=prm.get("dropout", 0.0),
        )

    @staticmethod
    def _run(x, layers):
        B, C, H, W = x.shape
        t = x.flatten(2).transpose(1, 2)
        for blk in layers:
            t = blk(t)
        return t.transpose(1, 2).reshape(B, C, H, W)

    def forward(self, x):
        x = self.stem(x)
        x = self._run(x, self.stage1)
        x = self.down(x)
        x = self._run(x, self.stage2)
        return self.head(x)
