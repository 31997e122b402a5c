# undefined: _DenseLayer
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = device
        growth_rate = int(prm.get("growth_rate", 16))
        block_config = (4, 6, 8)
        bn_size = 4
        num_features = 2 * growth_rate
        self.conv0 = nn.Conv2d(in_shape[1], num_features, kernel_size=3, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, num_layers in enumerate(block_config):
            layers = nn.ModuleList()
            for j in range(num_layers):
                layers.append(_DenseLayer(num_features + j * growth_rate, growth_rate=growth_rate,
                                          bn_size=bn_size, drop_rate=0.0, memory_efficient=False))
            self.blocks.append(layers)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                self.transitions.append(nn.Sequential(
                    nn.BatchNorm2d(num_features),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(num_features, num_features // 2, kernel_size=1, bias=False),
                    nn.AvgPool2d(kernel_size=2, stride=2),
                ))
                num_features = num_features // 2
        self.norm5 = nn.BatchNorm2d(num_features)
        self.classifier = nn.Linear(num_features, out_shape[0])

    def forward(self, x):
        x = self.conv0(x)
        for i, layers in enumerate(self.blocks):
            features = [x]
            for layer in layers:
                new_features = layer(features)
                features.append(new_features)
            x = torch.cat(features, 1)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        x = torch.relu(self.norm5(x))
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        return self.classifier(x)
