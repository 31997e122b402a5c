import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10, stochastic_depth_prob=0.2, dropout=0.2):
        super().__init__()
        norm_layer = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
        # expand_ratio, kernel, stride, input_channels, out_channels, num_layers
        settings = [
            MBConvConfig(1, 3, 1, 32, 16, 1),
            MBConvConfig(6, 3, 2, 16, 24, 2),
            MBConvConfig(6, 5, 2, 24, 40, 2),
            MBConvConfig(6, 3, 2, 40, 80, 3),
            MBConvConfig(6, 5, 1, 80, 112, 2),
        ]
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), norm_layer(32), nn.SiLU(inplace=True))
        total_blocks = sum(cnf.num_layers for cnf in settings)
        block_id = 0
        layers = []
        for cnf in settings:
            for i in range(cnf.num_layers):
                block_cnf = MBConvConfig(cnf.expand_ratio, cnf.kernel, cnf.stride if i == 0 else 1,
                                         cnf.input_channels if i == 0 else cnf.out_channels, cnf.out_channels, 1)
                sd_prob = stochastic_depth_prob * float(block_id) / total_blocks
                layers.append(MBConv(block_cnf, sd_prob, norm_layer))
                block_id += 1
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(112, 640, 1, bias=False), norm_layer(640), nn.SiLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(640, num_classes))

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)
