# undefined: GhostModule, _make_divisible
import torch
import torch.nn as nn


class GhostBottleneckLite(nn.Module):
    def __init__(self, in_chs, mid_chs, out_chs, stride=1):
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(in_chs, mid_chs, relu=True)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid_chs, mid_chs, 3, stride, 1, groups=mid_chs, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        self.ghost2 = GhostModule(mid_chs, out_chs, relu=False)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chs, in_chs, 3, stride, 1, groups=in_chs, bias=False), nn.BatchNorm2d(in_chs),
                nn.Conv2d(in_chs, out_chs, 1, 1, 0, bias=False), nn.BatchNorm2d(out_chs))

    def forward(self, x):
        residual = x
        x = self.ghost1(x)
        if self.stride > 1:
            x = self.bn_dw(self.conv_dw(x))
        x = self.ghost2(x)
        return x + self.shortcut(residual)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        width = 1.0
        cfgs = [(16, 16, 1), (48, 24, 2), (72, 24, 1), (120, 40, 2), (240, 80, 2), (200, 80, 1)]
        output_channel = _make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(in_ch, output_channel, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(output_channel)
        self.act1 = nn.ReLU(inplace=True)
        input_channel = output_channel
        blocks = []
        for exp, c, s in cfgs:
            output_channel = _make_divisible(c * width, 4)
            hidden_channel = _make_divisible(exp * width, 4)
            blocks.append(GhostBottleneckLite(input_channel, hidden_channel, output_channel, s))
            input_channel = output_channel
        self.blocks = nn.Sequential(*blocks)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(input_channel, 512, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(prm['dropout'])
        self.classifier = nn.Linear(512, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.view(x.size(0), -1)
        return self.classifier(self.dropout(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}
