# undefined: PoolFormerBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        layers = [2, 2, 4, 2]
        embed_dims = [32, 64, 160, 256]
        mlp_ratios = [4, 4, 4, 4]
        drop_path_rate = prm.get("drop_path", 0.1)

        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_chans, embed_dims[0], kernel_size=3, stride=2, padding=1),
            nn.GroupNorm(1, embed_dims[0]),
        )
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(layers))]
        network = []
        cur = 0
        for i in range(len(layers)):
            stage = []
            for j in range(layers[i]):
                stage.append(PoolFormerBlock(
                    embed_dims[i], pool_size=3, mlp_ratio=mlp_ratios[i],
                    drop_path=dpr[cur + j], layer_scale_init_value=1e-5,
                ))
            network.append(nn.Sequential(*stage))
            cur += layers[i]
            if i < len(layers) - 1:
                # downsampling between two stages
                network.append(nn.Conv2d(embed_dims[i], embed_dims[i + 1], kernel_size=3, stride=2, padding=1))
        self.network = nn.ModuleList(network)

        self.norm = nn.GroupNorm(1, embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes)
        self.apply(self.cls_init_weights)
        self.to(device)

    def cls_init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.patch_embed(x)
        for block in self.network:
            x = block(x)
        x = self.norm(x)
        return self.head(x.mean([-2, -1]))
