# undefined: SEModule, create_classifier
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class SEBasic(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, act_layer=nn.SiLU, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(planes)
        self.act1 = act_layer(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(planes)
        self.se = SEModule(planes, rd_ratio=1. / 8, act_layer=act_layer)
        self.act2 = act_layer(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), norm_layer(planes))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.se(self.bn2(self.conv2(x)))
        return self.act2(x + shortcut)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.num_classes = out_shape[0]
        self.drop_rate = prm['dropout']
        self.stem = nn.Sequential(nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(inplace=True))
        stages, inplanes = [], 32
        for planes, stride in [(32, 1), (64, 2), (128, 2), (256, 2)]:
            stages.append(nn.Sequential(SEBasic(inplanes, planes, stride), SEBasic(planes, planes)))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.num_features = inplanes
        self.global_pool, self.fc = create_classifier(self.num_features, self.num_classes, pool_type='avg')

    def forward_features(self, x):
        return self.stages(self.stem(x))

    def forward_head(self, x, pre_logits: bool = False):
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

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
