# undefined: SHSA, LinearSelfAttention
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in, c_out, k=3, s=1, groups=1):
        super().__init__(nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SHViTStage(nn.Module):
    """Single-head self-attention on a fraction of channels (SHViT), plus conv FFN."""

    def __init__(self, dim, qk_dim=16, partial_ratio=4.67):
        super().__init__()
        self.dw = ConvBNReLU(dim, dim, 3, 1, groups=dim)
        self.mixer = SHSA(dim, qk_dim, int(dim / partial_ratio))
        self.ffn = nn.Sequential(ConvBNReLU(dim, dim * 2, 1), nn.Conv2d(dim * 2, dim, 1))

    def forward(self, x):
        x = x + self.dw(x)
        x = x + self.mixer(x)
        return x + self.ffn(x)


class MobileViTv2Stage(nn.Module):
    """Local conv rep -> unfold to patches [B, C, P, N] -> separable linear attention -> fold."""

    def __init__(self, dim, patch_size=2):
        super().__init__()
        self.ph = self.pw = patch_size
        self.local = nn.Sequential(ConvBNReLU(dim, dim, 3, 1, groups=dim), nn.Conv2d(dim, dim, 1, bias=False))
        self.norm = nn.GroupNorm(1, dim)
        self.attn = LinearSelfAttention(embed_dim=dim, attn_drop=0.0, proj_drop=0.0)
        self.proj = ConvBNReLU(dim, dim, 1)

    def forward(self, x):
        x = self.local(x)
        B, C, H, W = x.shape
        patches = F.unfold(x, kernel_size=(self.ph, self.pw), stride=(self.ph, self.pw))
        patches = patches.reshape(B, C, self.ph * self.pw, -1)  # B, C, P, N
        patches = patches + self.attn(self.norm(patches))
        patches = patches.reshape(B, C * self.ph * self.pw, -1)
        x = F.fold(patches, output_size=(H, W), kernel_size=(self.ph, self.pw), stride=(self.ph, self.pw))
        return self.proj(x)


class HybridSearchNet(nn.Module):
    def __init__(self, num_classes=10, dims=(32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(3, dims[0] // 2, 3, 2), ConvBNReLU(dims[0] // 2, dims[0], 3, 1))
        self.stage1 = MobileViTv2Stage(dims[0])
        self.down1 = ConvBNReLU(dims[0], dims[1], 3, 2)
        self.stage2 = SHViTStage(dims[1], qk_dim=16)
        self.down2 = ConvBNReLU(dims[1], dims[2], 3, 2)
        self.stage3 = SHViTStage(dims[2], qk_dim=16)
        self.head = nn.Linear(dims[2], num_classes)

    def forward(self, x):
        x = self.stage1(self.stem(x))
        x = self.stage2(self.down1(x))
        x = self.stage3(self.down2(x))
        return self.head(x.mean((2, 3)))
