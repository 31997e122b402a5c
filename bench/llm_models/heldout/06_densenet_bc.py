import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes=10, growth_rate=12, block_config=(16, 16, 16), compression=0.5):
        super(Net, self).__init__()
        num_features = 2 * growth_rate
        self.conv0 = nn.Conv2d(3, num_features, kernel_size=3, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, num_layers in enumerate(block_config):
            layers = nn.ModuleList()
            for j in range(num_layers):
                layers.append(DenseLayer(num_features + j * growth_rate, growth_rate, bn_size=4, drop_rate=0.0))
            self.blocks.append(layers)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                out_features = int(num_features * compression)
                self.transitions.append(Transition(num_features, out_features))
                num_features = out_features
        self.norm_final = nn.BatchNorm2d(num_features)
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x):
        x = self.conv0(x)
        for i, layers in enumerate(self.blocks):
            features = [x]
            for layer in layers:
                new_features = layer(torch.cat(features, 1))
                features.append(new_features)
            x = torch.cat(features, 1)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        x = F.relu(self.norm_final(x), inplace=True)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)
