# undefined: AxialAttention, ConvolutionalGLU
import torch
import torch.nn as nn


class AxialGLULayer(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = AxialAttention(dim=dim, num_dimensions=2, heads=heads, dim_index=1, sum_axial_out=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ConvolutionalGLU(in_features=dim, hidden_features=dim * mlp_ratio, act_layer=nn.GELU, drop=0.0)

    def forward(self, x):  # B, C, H, W
        x = x + self.attn(self.norm1(x))
        B, C, H, W = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + self.mlp(self.norm2(t), H, W)
        return t.transpose(1, 2).reshape(B, C, H, W)


class Net(nn.Module):
    """Axial-attention + TransNeXt convolutional-GLU hybrid for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (64, 128)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.GELU(),
            nn.Conv2d(32, dims[0], 3, 2, 1, bias=False), nn.BatchNorm2d(dims[0]),
        )  # 8x8
        self.stage1 = nn.Sequential(AxialGLULayer(dims[0], heads=4), AxialGLULayer(dims[0], heads=4))
        self.down = nn.Sequential(nn.Conv2d(dims[0], dims[1], 3, 2, 1), nn.BatchNorm2d(dims[1]))  # 4x4
        self.stage2 = nn.Sequential(AxialGLULayer(dims[1], heads=8), AxialGLULayer(dims[1], heads=8))
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], out_shape[0])

    def forward(self, x):
        x = self.stage1(self.stem(x))
        x = self.stage2(self.down(x))
        x = x.mean(dim=(2, 3))
        return self.head(self.norm(x))
