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
        embed_dim = 64
        depths = [2, 2, 2]
        num_heads = [2, 4, 8]
        window_size = 4
        mlp_ratio = 4.0

        self.patch_embed = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.patch_norm = nn.LayerNorm(embed_dim)
        self.pos_drop = nn.Dropout(prm.get("dropout", 0.0))
        res = img_size // patch_size
        dpr = [x.item() for x in torch.linspace(0, prm.get("drop_path_rate", 0.1), sum(depths))]

        self.layers = nn.ModuleList()
        dim = embed_dim
        for i_layer, depth in enumerate(depths):
            blocks = nn.ModuleList()
            for i in range(depth):
                blocks.append(
                    SwinTransformerBlock(
                        dim=dim,
                        input_resolution=(res, res),
                        num_heads=num_heads[i_layer],
                        window_size=window_size,
                        shift_size=0 if (i % 2 == 0) else window_size // 2,
                        mlp_ratio=mlp_ratio,
                        qkv_bias=True,
                        drop_path=dpr[sum(depths[:i_layer]) + i],
                    )
                )
            stage = nn.Module()
            stage.blocks = blocks
            if i_layer < len(depths) - 1:
                stage.downsample = PatchMerging((res, res), dim=dim)
                dim = dim * 2
                res = res // 2
            else:
                stage.downsample = None
            self.layers.append(stage)

        self.num_features = dim
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.patch_embed(x)  # B, C, H, W
        x = x.flatten(2).transpose(1, 2)  # B, L, C
        x = self.pos_drop(self.patch_norm(x))
        for stage in self.layers:
            for blk in stage.blocks:
                x = blk(x)
            if stage.downsample is not None:
                x = stage.downsample(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
