import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, dims=(64, 128, 256), depths=(2, 2, 4), drop_path_rate=0.1):
        super().__init__()
        # 2x2 patchify stem: 32x32 -> 16x16
        self.stem = nn.Sequential(
            nn.Conv2d(3, dims[0], kernel_size=2, stride=2),
            LayerNorm2d(dims[0], eps=1e-6),
        )
        total_blocks = sum(depths)
        block_id = 0
        stages = []
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i > 0:
                stages.append(nn.Sequential(
                    LayerNorm2d(dims[i - 1], eps=1e-6),
                    nn.Conv2d(dims[i - 1], dim, kernel_size=2, stride=2),
                ))
            blocks = []
            for _ in range(depth):
                sd_prob = drop_path_rate * block_id / (total_blocks - 1.0)
                blocks.append(CNBlock(dim, layer_scale=1e-6, stochastic_depth_prob=sd_prob))
                block_id += 1
            stages.append(nn.Sequential(*blocks))
        self.features = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            LayerNorm2d(dims[-1], eps=1e-6),
            nn.Flatten(1),
            nn.Linear(dims[-1], num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.stem(x)
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(x)
