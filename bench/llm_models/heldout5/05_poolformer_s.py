# undefined: PoolFormerBlock, GroupNorm
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        layers = [2, 2, 4, 2]
        embed_dims = [48, 96, 192, 288]
        mlp_ratio = 4.0
        drop_path_rate = prm.get("drop_path_rate", 0.1)

        # overlapping conv patch embedding: 32x32 -> 16x16
        self.patch_embed = nn.Conv2d(in_shape[1], embed_dims[0], kernel_size=3, stride=2, padding=1)

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(layers))]
        self.stages = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        cur = 0
        for i, depth in enumerate(layers):
            blocks = [
                PoolFormerBlock(
                    embed_dims[i],
                    pool_size=3,
                    mlp_ratio=mlp_ratio,
                    norm_layer=GroupNorm,
                    drop_path=dpr[cur + j],
                    use_layer_scale=True,
                    layer_scale_init_value=1e-5,
                )
                for j in range(depth)
            ]
            self.stages.append(nn.Sequential(*blocks))
            cur += depth
            if i < len(layers) - 1:
                self.downsamples.append(
                    nn.Conv2d(embed_dims[i], embed_dims[i + 1], kernel_size=3, stride=2, padding=1)
                )

        self.norm = GroupNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], out_shape[0])
        self.apply(self._init_weights)
        self.to(device)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.downsamples):
                x = self.downsamples[i](x)
        x = self.norm(x)
        return self.head(x.mean([-2, -1]))
