# undefined: RepVGGBlock, conv_bn
"""RepVGG-A0-like classifier for CIFAR-10 with a 1x1 conv_bn shortcut into the head.

Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021
(official code: github.com/DingXiaoH/RepVGG).
"""
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        num_blocks = [2, 4, 6, 1]
        width_multiplier = [0.75, 0.75, 0.75, 2.5]
        self.in_planes = min(64, int(64 * width_multiplier[0]))
        self.stage0 = RepVGGBlock(in_channels=in_shape[1], out_channels=self.in_planes, kernel_size=3,
                                  stride=1, padding=1)
        self.stage1 = self._make_stage(int(64 * width_multiplier[0]), num_blocks[0], stride=1)
        self.stage2 = self._make_stage(int(128 * width_multiplier[1]), num_blocks[1], stride=2)
        self.stage3 = self._make_stage(int(256 * width_multiplier[2]), num_blocks[2], stride=2)
        c3 = self.in_planes
        self.stage4 = self._make_stage(int(512 * width_multiplier[3]), num_blocks[3], stride=2)
        # project stage3 features and add them to stage4 output (multi-level head)
        self.skip = conv_bn(in_channels=c3, out_channels=self.in_planes, kernel_size=1, stride=2, padding=0)
        self.gap = nn.AdaptiveAvgPool2d(output_size=1)
        self.dropout = nn.Dropout(prm['dropout'])
        self.linear = nn.Linear(self.in_planes, out_shape[0])

    def _make_stage(self, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        blocks = []
        for stride in strides:
            blocks.append(RepVGGBlock(in_channels=self.in_planes, out_channels=planes, kernel_size=3,
                                      stride=stride, padding=1, groups=1))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = self.stage0(x)
        out = self.stage1(out)
        out = self.stage2(out)
        f3 = self.stage3(out)
        out = self.stage4(f3) + self.skip(f3)
        out = self.gap(out).view(out.size(0), -1)
        return self.linear(self.dropout(out))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'],
                                         weight_decay=1e-4)

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
