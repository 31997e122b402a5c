# undefined: SqueezeExcitation, make_divisible
import torch
import torch.nn as nn


class MBConv(nn.Module):
    def __init__(self, in_ch, out_ch, expand_ratio, stride):
        super().__init__()
        hidden = make_divisible(in_ch * expand_ratio, 8)
        squeeze = max(1, in_ch // 4)
        self.use_res = stride == 1 and in_ch == out_ch
        self.block = nn.Sequential(
            nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.SiLU(inplace=True),
            SqueezeExcitation(hidden, squeeze, activation=nn.SiLU),
            nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
        )

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_res else out


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        width_mult = 0.75
        cfg = [(1, 16, 1, 1), (4, 24, 2, 2), (4, 40, 2, 2), (4, 80, 2, 2)]
        stem_ch = make_divisible(32 * width_mult, 8)
        layers = [nn.Conv2d(in_ch, stem_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_ch), nn.SiLU(inplace=True)]
        c = stem_ch
        for t, ch, n, s in cfg:
            out_c = make_divisible(ch * width_mult, 8)
            for i in range(n):
                layers.append(MBConv(c, out_c, t, s if i == 0 else 1))
                c = out_c
        head = make_divisible(320 * width_mult, 8)
        layers += [nn.Conv2d(c, head, 1, bias=False), nn.BatchNorm2d(head), nn.SiLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(head, num_classes)
        self.to(device)

    def forward(self, x):
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.fc(self.dropout(x))

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
