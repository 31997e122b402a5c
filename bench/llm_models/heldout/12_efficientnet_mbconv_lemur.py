import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
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

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        width_mult = 1.0
        # expand_ratio, channels, repeats, stride, kernel_size
        blocks_args = [[1, 16, 1, 1, 3], [6, 24, 2, 1, 3], [6, 40, 2, 2, 5], [6, 80, 3, 2, 3],
                       [6, 112, 3, 1, 5], [6, 192, 4, 2, 5], [6, 320, 1, 1, 3]]
        total_blocks = sum(b[2] for b in blocks_args)
        stem_ch = round_filters(32, width_mult)
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], stem_ch, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_ch, momentum=0.01, eps=1e-3),
            MemoryEfficientSwish(),
        )
        layers, in_ch, idx = [], stem_ch, 0
        for t, c, n, s, k in blocks_args:
            out_ch = round_filters(c, width_mult)
            for i in range(n):
                layers.append(MBConv(in_ch, out_ch, expand_ratio=t, kernel_size=k, stride=s if i == 0 else 1,
                                     se_ratio=0.25, drop_path_rate=0.2 * idx / total_blocks))
                in_ch, idx = out_ch, idx + 1
        self.blocks = nn.Sequential(*layers)
        head_ch = round_filters(1280, width_mult)
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, head_ch, 1, bias=False),
            nn.BatchNorm2d(head_ch, momentum=0.01, eps=1e-3),
            MemoryEfficientSwish(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm['dropout']),
        )
        self.fc = nn.Linear(head_ch, out_shape[0])

    def forward(self, x):
        return self.fc(self.head(self.blocks(self.stem(x))))
