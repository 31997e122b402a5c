# undefined: ReLUConvBN, FactorizedReduce, DilConv
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class FixedCell(nn.Module):
    """A fixed DARTS-style cell with 3 intermediate nodes.

    node0 = dil_conv_3x3(s0) + dil_conv_5x5(s1)
    node1 = dil_conv_3x3(s1) + skip/reduce(s0)
    node2 = dil_conv_3x3(node0) + max_pool_3x3(node1)
    output = concat(node0, node1, node2)
    """

    def __init__(self, C_prev_prev, C_prev, C, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)

        s = 2 if reduction else 1
        self.op0a = DilConv(C, C, 3, s, 2, 2, affine=True)
        self.op0b = DilConv(C, C, 5, s, 4, 2, affine=True)
        self.op1a = DilConv(C, C, 3, s, 2, 2, affine=True)
        self.op1b = FactorizedReduce(C, C, affine=True) if reduction else nn.Identity()
        self.op2a = DilConv(C, C, 3, 1, 2, 2, affine=True)
        self.op2b = nn.MaxPool2d(3, stride=1, padding=1)
        self.multiplier = 3

    def forward(self, s0, s1, drop_prob=0.0):
        s0 = self.preprocess0(s0)
        s1 = self.preprocess1(s1)
        n0 = self.op0a(s0) + self.op0b(s1)
        n1 = self.op1a(s1) + self.op1b(s0)
        n2 = self.op2a(n0) + self.op2b(n1)
        return torch.cat([n0, n1, n2], dim=1)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_ch = in_shape[1]
        num_classes = out_shape[0]
        C = 16
        layers = 5
        stem_multiplier = 3
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr),
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            if i in [layers // 3, 2 * layers // 3]:
                C_curr *= 2
                reduction = True
            else:
                reduction = False
            cell = FixedCell(C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr

        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm.get("dropout", 0.0))
        self.classifier = nn.Linear(C_prev, num_classes)
        self.to(device)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.global_pooling(s1)
        logits = self.classifier(self.dropout(out.view(out.size(0), -1)))
        return logits

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(), lr=prm["lr"], momentum=prm["momentum"], weight_decay=3e-4
        )

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            logits = self(inputs)
            loss = self.criteria[0](logits, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 5)
            self.optimizer.step()
