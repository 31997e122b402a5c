# undefined: PatchEmbed, MixerBlock
import torch
import torch.nn as nn


class Net(nn.Module):
    """MLP-Mixer (S/4-like, reduced) for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        self.device = device
        prm = prm or {}
        in_ch = in_shape[1]
        img_size = in_shape[2]
        num_classes = out_shape[0]
        patch = 4
        dim = int(prm.get("dim", 192))
        depth = int(prm.get("depth", 6))
        drop_path_rate = float(prm.get("drop_path", 0.1))
        seq_len = (img_size // patch) ** 2

        self.stem = PatchEmbed(img_size, patch, in_ch, dim)
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.Sequential(
            *[MixerBlock(dim, seq_len, (0.5, 4.0), drop_path=dpr[i]) for i in range(depth)]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.weight)

    def forward(self, x):
        x = self.stem(x)          # (B, N, C)
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
