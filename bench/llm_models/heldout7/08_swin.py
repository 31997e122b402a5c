# undefined: SwinTransformerBlock, PatchMerging
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        img_size = in_shape[2]
        num_classes = out_shape[0]
        patch_size = 2
        embed_dim = 48
        depths = [2, 2, 2]
        num_heads = [3, 6, 12]
        window_size = 4
        drop_path_rate = prm.get("drop_path", 0.1)

        self.patch_embed = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.patch_norm = nn.LayerNorm(embed_dim)
        self.pos_drop = nn.Dropout(p=prm.get("dropout", 0.0))
        patches_resolution = img_size // patch_size

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        self.layers = nn.ModuleList()
        self.num_layers = len(depths)
        for i_layer in range(self.num_layers):
            dim = int(embed_dim * 2 ** i_layer)
            res = patches_resolution // (2 ** i_layer)
            blocks = []
            for i in range(depths[i_layer]):
                blocks.append(SwinTransformerBlock(
                    dim=dim,
                    input_resolution=(res, res),
                    num_heads=num_heads[i_layer],
                    window_size=window_size,
                    shift_size=0 if (i % 2 == 0) else window_size // 2,
                    mlp_ratio=4.0,
                    qkv_bias=True,
                    drop_path=dpr[sum(depths[:i_layer]) + i],
                ))
            if i_layer < self.num_layers - 1:
                blocks.append(PatchMerging((res, res), dim=dim, norm_layer=nn.LayerNorm))
            self.layers.append(nn.Sequential(*blocks))

        self.num_features = int(embed_dim * 2 ** (self.num_layers - 1))
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # B, L, C
        x = self.pos_drop(self.patch_norm(x))
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
