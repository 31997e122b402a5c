# undefined: gMLPBlock, SpatialGatingUnit
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        patch = 4
        d_model = int(prm.get("d_model", 96))
        d_ffn = d_model * 2
        depth = int(prm.get("depth", 4))
        seq_len = (in_shape[2] // patch) * (in_shape[3] // patch)
        self.patch_embed = nn.Conv2d(in_shape[1], d_model, kernel_size=patch, stride=patch)
        self.blocks = nn.ModuleList([gMLPBlock(d_model, d_ffn, seq_len) for _ in range(depth)])
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, d_ffn)
        self.sgu = SpatialGatingUnit(d_ffn, seq_len)
        self.fc = nn.Linear(d_ffn // 2, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # B, N, d_model
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        x = F.gelu(self.proj(x))
        x = self.sgu(x)  # B, N, d_ffn // 2
        x = x.mean(dim=1)
        return self.fc(x)
