# undefined: MixedConv2d, SelectAdaptivePool2d
import torch
import torch.nn as nn


class MixBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride, expand=3):
        super().__init__()
        mid = in_ch * expand
        self.conv_pw = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv_dw = MixedConv2d(mid, mid, kernel_size=[3, 5, 7], stride=stride, padding='', depthwise=True)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv_pwl = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act = nn.SiLU(inplace=True)
        self.has_skip = stride == 1 and in_ch == out_ch

    def forward(self, x):
        out = self.act(self.bn1(self.conv_pw(x)))
        out = self.act(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_skip else out


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 24, 3, 1, 1, bias=False), nn.BatchNorm2d(24), nn.SiLU(inplace=True))
        cfg = [(24, 1), (48, 2), (48, 1), (96, 2), (96, 1), (144, 2)]
        blocks = []
        c = 24
        for oc, s in cfg:
            blocks.append(MixBlock(c, oc, s))
            c = oc
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = MixedConv2d(c, 256, kernel_size=[1, 3], stride=1, padding='')
        self.bn_head = nn.BatchNorm2d(256)
        self.global_pool = SelectAdaptivePool2d(pool_type='avgmax', flatten=True)
        self.dropout = nn.Dropout(prm['dropout'])
        self.classifier = nn.Linear(256, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.relu(self.bn_head(self.conv_head(x)))
        x = self.global_pool(x)
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
