# undefined: MBConv, Transformer
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        ih, iw = in_shape[2], in_shape[3]
        num_classes = out_shape[0]
        num_blocks = [1, 2, 2, 3, 2]
        channels = [32, 48, 96, 160, 256]

        self.s0 = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.GELU(),
        )
        self.s1 = self._make_layer(MBConv, channels[0], channels[1], num_blocks[1], (ih // 2, iw // 2))
        self.s2 = self._make_layer(MBConv, channels[1], channels[2], num_blocks[2], (ih // 4, iw // 4))
        self.s3 = self._make_layer(Transformer, channels[2], channels[3], num_blocks[3], (ih // 8, iw // 8))
        self.s4 = self._make_layer(Transformer, channels[3], channels[4], num_blocks[4], (ih // 16, iw // 16))

        self.pool = nn.AvgPool2d(ih // 16, 1)
        self.fc = nn.Linear(channels[-1], num_classes, bias=False)
        self.to(device)

    def _make_layer(self, block, inp, oup, depth, image_size):
        layers = nn.ModuleList([])
        for i in range(depth):
            if i == 0:
                layers.append(block(inp, oup, image_size, downsample=True))
            else:
                layers.append(block(oup, oup, image_size))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.s0(x)
        x = self.s1(x)
        x = self.s2(x)
        x = self.s3(x)
        x = self.s4(x)
        x = self.pool(x).view(-1, x.shape[1])
        return self.fc(x)
