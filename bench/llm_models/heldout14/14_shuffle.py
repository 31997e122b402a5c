# undefined: channel_shuffle
import torch
import torch.nn as nn


class ShuffleUnit(nn.Module):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        branch_features = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        cin = inp if stride > 1 else branch_features
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True),
            nn.Conv2d(branch_features, branch_features, 3, stride, 1, groups=branch_features, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        out = channel_shuffle(out, 2)
        return out


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        stages_repeats = [2, 3, 2]
        stages_out_channels = [24, 64, 128, 256, 512]
        self.conv1 = nn.Sequential(nn.Conv2d(in_ch, stages_out_channels[0], 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(stages_out_channels[0]), nn.ReLU(inplace=True))
        input_channels = stages_out_channels[0]
        stages = []
        for repeats, output_channels in zip(stages_repeats, stages_out_channels[1:4]):
            seq = [ShuffleUnit(input_channels, output_channels, 2)]
            for _ in range(repeats - 1):
                seq.append(ShuffleUnit(output_channels, output_channels, 1))
            stages.append(nn.Sequential(*seq))
            input_channels = output_channels
        self.stages = nn.Sequential(*stages)
        output_channels = stages_out_channels[-1]
        self.conv5 = nn.Sequential(nn.Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
                                   nn.BatchNorm2d(output_channels), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(output_channels, num_classes)
        self.to(device)

    def forward(self, x):
        x = self.conv5(self.stages(self.conv1(x)))
        x = x.mean([2, 3])
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
