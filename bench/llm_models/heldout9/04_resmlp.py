# undefined: Affine, PreAffinePostLayerScale
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        dim = int(prm.get("dim", 128))
        depth = int(prm.get("depth", 6))
        patch_size = 4
        num_patches = (in_shape[2] // patch_size) * (in_shape[3] // patch_size)
        expansion = 4
        wrapper = lambda i, fn: PreAffinePostLayerScale(dim, i + 1, fn)
        self.patch_embed = nn.Conv2d(in_shape[1], dim, kernel_size=patch_size, stride=patch_size)
        layers = []
        for i in range(depth):
            layers.append(wrapper(i, nn.Conv1d(num_patches, num_patches, 1)))
            layers.append(wrapper(i, nn.Sequential(
                nn.Linear(dim, dim * expansion),
                nn.GELU(),
                nn.Linear(dim * expansion, dim),
            )))
        self.layers = nn.Sequential(*layers)
        self.affine = Affine(dim)
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.layers(x)
        x = self.affine(x)
        return self.head(x.mean(dim=1))
