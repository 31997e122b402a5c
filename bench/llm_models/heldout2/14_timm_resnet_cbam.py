import torch
import torch.nn as nn


class Net(nn.Module):
    """Bottleneck ResNet with CBAM attention and drop-path, sized for CIFAR-10."""

    def __init__(self, num_classes=10, layers=(2, 2, 2), drop_path_rate=0.05):
        super().__init__()
        self.inplanes = 64
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        stages = []
        for i, (planes, n) in enumerate(zip((32, 64, 128), layers)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                downsample = None
                if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes * Bottleneck.expansion),
                    )
                blocks.append(Bottleneck(
                    self.inplanes, planes, stride=stride, downsample=downsample,
                    attn_layer=CbamModule,
                    drop_path=DropPath(drop_path_rate) if drop_path_rate > 0 else None,
                ))
                self.inplanes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.inplanes, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = self.global_pool(x).flatten(1)
        return self.fc(x)
