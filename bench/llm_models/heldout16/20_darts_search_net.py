# undefined: OPS, PRIMITIVES
import torch
import torch.nn as nn
import torch.nn.functional as F


class MixedOp(nn.Module):
    def __init__(self, C, stride):
        super().__init__()
        self._ops = nn.ModuleList()
        for primitive in PRIMITIVES:
            op = OPS[primitive](C, stride, False)
            if 'pool' in primitive:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self._ops.append(op)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class SearchCell(nn.Module):
    def __init__(self, steps, C_prev, C, reduction):
        super().__init__()
        self.reduction = reduction
        self.preprocess = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(C_prev, C, 1, bias=False),
                                        nn.BatchNorm2d(C, affine=False))
        self._steps = steps
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(1 + i):
                stride = 2 if reduction and j < 1 else 1
                self._ops.append(MixedOp(C, stride))

    def forward(self, s0, weights):
        states = [self.preprocess(s0)]
        offset = 0
        for _ in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[1:], dim=1)


class DartsSupernet(nn.Module):
    def __init__(self, num_classes=10, C=8, steps=2, layers=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C * 2, 3, padding=1, bias=False), nn.BatchNorm2d(C * 2))
        self.cells = nn.ModuleList()
        C_prev = C * 2
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            C_cur = C * 2 if reduction else C
            self.cells.append(SearchCell(steps, C_prev, C_cur, reduction))
            C_prev = steps * C_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        k = sum(1 + i for i in range(steps))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))

    def forward(self, x):
        s = self.stem(x)
        for cell in self.cells:
            alphas = self.alphas_reduce if cell.reduction else self.alphas_normal
            s = cell(s, F.softmax(alphas, dim=-1))
        return self.classifier(self.global_pooling(s).flatten(1))
