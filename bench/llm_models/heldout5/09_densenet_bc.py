# undefined: DenseBlock, Transition
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        growth_rate = 12
        block_config = (16, 16, 16)
        compression = 0.5
        bn_size = 4
        drop_rate = prm.get("drop_rate", 0.0)

        num_features = 2 * growth_rate
        self.conv0 = nn.Conv2d(in_shape[1], num_features, kernel_size=3, padding=1, bias=False)

        blocks = []
        for i, num_layers in enumerate(block_config):
            blocks.append(
                DenseBlock(
                    num_layers=num_layers,
                    in_channels=num_features,
                    growth_rate=growth_rate,
                    bn_size=bn_size,
                    drop_rate=drop_rate,
                )
            )
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                out_features = int(num_features * compression)
                blocks.append(Transition(num_features, out_features))
                num_features = out_features
        self.features = nn.Sequential(*blocks)
        self.norm_final = nn.BatchNorm2d(num_features)
        self.classifier = nn.Linear(num_features, out_shape[0])

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)
        self.to(device)

    def forward(self, x):
        x = self.conv0(x)
        x = self.features(x)
        x = F.relu(self.norm_final(x), inplace=True)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)
