# undefined: SeparableConv2d, eca_layer
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_channels = in_shape[1]
        num_classes = out_shape[0]

        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)

        # (in, out, stride) -- entry flow + middle flow + exit flow, Xception style
        block_cfg = [(64, 128, 2), (128, 256, 2), (256, 256, 1), (256, 256, 1), (256, 384, 2)]
        self.blocks = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.attn = nn.ModuleList()
        for cin, cout, s in block_cfg:
            layers = [
                nn.ReLU(inplace=False),
                SeparableConv2d(cin, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                SeparableConv2d(cout, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
            ]
            if s != 1:
                layers.append(nn.MaxPool2d(3, s, 1))
            self.blocks.append(nn.Sequential(*layers))
            if cin != cout or s != 1:
                self.skips.append(nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=s, bias=False),
                    nn.BatchNorm2d(cout),
                ))
            else:
                self.skips.append(nn.Identity())
            self.attn.append(eca_layer(cout, k_size=3))

        self.conv3 = SeparableConv2d(384, 512, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout(prm.get("dropout", 0.2))
        self.fc = nn.Linear(512, num_classes)
        self.to(device)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block, skip, attn in zip(self.blocks, self.skips, self.attn):
            x = attn(block(x)) + skip(x)
        x = F.relu(self.bn3(self.conv3(x)))
        x = F.adaptive_avg_pool2d(x, (1, 1)).view(x.size(0), -1)
        return self.fc(self.dropout(x))
