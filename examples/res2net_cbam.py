"""LLM-written CIFAR-10 net: Res2Net bottlenecks built through ``_make_layer`` and a CBAM attention, neither defined.
The LLM passes CBAM's reduction as the paper's divisor ``reduction_ratio=16`` (timm's ``CbamModule`` takes the fraction
``rd_ratio``) and a ``kernel_size=7`` timm's module has no parameter for; timm's ``Bottle2neck`` leaves its
``norm_layer`` to the model that builds it."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.inplanes = 32
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.layer1 = self._make_layer(Bottle2neck, 16, stride=1)
        self.layer2 = self._make_layer(Bottle2neck, 32, stride=2)
        self.attention = CBAM(32 * Bottle2neck.expansion, reduction_ratio=16, kernel_size=7)
        self.head = nn.Linear(32 * Bottle2neck.expansion, num_classes)

    def _make_layer(self, block, planes: int, stride: int) -> nn.Module:
        downsample = nn.Sequential(
            nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * block.expansion),
        )
        layer = block(self.inplanes, planes, stride=stride, downsample=downsample)
        self.inplanes = planes * block.expansion
        return layer

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        x = self.attention(x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
