# undefined: CNBlock, Permute
from functools import partial

import torch
import torch.nn as nn


class Net(nn.Module):
    """Tiny ConvNeXt in torchvision style for 32x32 inputs."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        stochastic_depth_prob = prm.get("stochastic_depth_prob", 0.1)
        layer_scale = 1e-6
        dims = [48, 96, 192]
        depths = [2, 2, 2]
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        layers = []
        # stem: 2x2 patchify, channels-last LayerNorm
        layers.append(
            nn.Sequential(
                nn.Conv2d(in_shape[1], dims[0], kernel_size=2, stride=2, bias=True),
                Permute([0, 2, 3, 1]),
                norm_layer(dims[0]),
                Permute([0, 3, 1, 2]),
            )
        )
        total_blocks = sum(depths)
        block_id = 0
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            stage = []
            for _ in range(depth):
                sd_prob = stochastic_depth_prob * block_id / (total_blocks - 1.0)
                stage.append(CNBlock(dim, layer_scale, sd_prob))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if i < len(dims) - 1:
                layers.append(
                    nn.Sequential(
                        Permute([0, 2, 3, 1]),
                        norm_layer(dim),
                        Permute([0, 3, 1, 2]),
                        nn.Conv2d(dim, dims[i + 1], kernel_size=2, stride=2),
                    )
                )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(1),
            norm_layer(dims[-1]),
            nn.Linear(dims[-1], num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(x)
