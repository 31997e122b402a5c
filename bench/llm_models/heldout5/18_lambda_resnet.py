# undefined: LambdaLayer, drop_path
import torch
import torch.nn as nn
import torch.nn.functional as F


class LambdaBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1, drop_prob=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.lambda_layer = LambdaLayer(dim=planes, dim_out=planes, r=15, dim_k=16, heads=4, dim_u=1)
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if stride > 1 else nn.Identity()
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.drop_prob = drop_prob

        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != planes * self.expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * self.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.pool(self.lambda_layer(out))))
        out = self.bn3(self.conv3(out))
        out = drop_path(out, self.drop_prob, self.training)
        return F.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        drop_path_rate = prm.get("drop_path_rate", 0.1)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 64, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        num_blocks = [2, 2, 2]
        planes_list = [32, 64, 128]
        strides = [1, 2, 2]
        total = sum(num_blocks)
        block_id = 0
        self.in_planes = 64
        layers = []
        for planes, n, s in zip(planes_list, num_blocks, strides):
            for i in range(n):
                dp = drop_path_rate * block_id / max(total - 1, 1)
                layers.append(LambdaBottleneck(self.in_planes, planes, stride=s if i == 0 else 1, drop_prob=dp))
                self.in_planes = planes * LambdaBottleneck.expansion
                block_id += 1
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(self.in_planes, out_shape[0])
        self.to(device)

    def forward(self, x):
        out = self.stem(x)
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
