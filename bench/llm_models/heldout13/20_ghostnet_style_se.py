# undefined: ConvBnAct, hard_sigmoid
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class DWSEBlock(nn.Module):
    """Expand (1x1) -> depthwise -> hard-sigmoid SE -> linear project, with a residual when shapes match."""

    def __init__(self, in_chs, mid_chs, out_chs, dw_kernel_size=3, stride=1, se_ratio=0.25):
        super().__init__()
        self.expand = ConvBnAct(in_chs, mid_chs, 1, act_layer=nn.ReLU)
        self.dw = nn.Conv2d(mid_chs, mid_chs, dw_kernel_size, stride, (dw_kernel_size - 1) // 2,
                            groups=mid_chs, bias=False)
        self.bn_dw = nn.BatchNorm2d(mid_chs)
        reduced_chs = max(4, int(mid_chs * se_ratio) // 4 * 4)
        self.se_reduce = nn.Conv2d(mid_chs, reduced_chs, 1, bias=True)
        self.se_expand = nn.Conv2d(reduced_chs, mid_chs, 1, bias=True)
        self.project = nn.Sequential(nn.Conv2d(mid_chs, out_chs, 1, bias=False), nn.BatchNorm2d(out_chs))
        self.use_res = stride == 1 and in_chs == out_chs

    def forward(self, x):
        y = self.bn_dw(self.dw(self.expand(x)))
        s = F.adaptive_avg_pool2d(y, 1)
        s = self.se_expand(F.relu(self.se_reduce(s), inplace=True))
        y = self.project(y * hard_sigmoid(s))
        return y + x if self.use_res else y


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        # k, exp, c, s
        cfgs = [[3, 16, 16, 1], [3, 48, 24, 2], [3, 72, 24, 1], [5, 72, 40, 2],
                [5, 120, 40, 1], [3, 240, 80, 2], [3, 200, 80, 1], [5, 480, 112, 1]]
        self.conv_stem = ConvBnAct(in_shape[1], 16, 3, 1)
        blocks, in_chs = [], 16
        for k, exp, c, s in cfgs:
            blocks.append(DWSEBlock(in_chs, exp, c, k, s))
            in_chs = c
        blocks.append(ConvBnAct(in_chs, 480, 1))
        self.blocks = nn.Sequential(*blocks)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(480, 1024, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.dropout = prm['dropout']
        self.classifier = nn.Linear(1024, out_shape[0])

    def forward(self, x):
        x = self.blocks(self.conv_stem(x))
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.view(x.size(0), -1)
        if self.dropout > 0.:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
