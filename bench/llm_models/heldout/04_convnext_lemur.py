import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'drop_path'}


class Net(nn.Module):
    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
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
        dims = [64, 128, 256, 512]
        depths = [2, 2, 6, 2]
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], dims[0], kernel_size=2, stride=2),
            LayerNorm2d(dims[0]),
        )
        dpr = [x.item() for x in torch.linspace(0, prm['drop_path'], sum(depths))]
        self.stages = nn.ModuleList()
        cur = 0
        for i in range(4):
            layers = []
            if i > 0:
                layers += [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dims[i], kernel_size=2, stride=2)]
            layers += [ConvNeXtBlock(dims[i], drop_path=dpr[cur + j], ls_init_value=1e-6) for j in range(depths[i])]
            self.stages.append(nn.Sequential(*layers))
            cur += depths[i]
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        x = self.norm(x.mean([-2, -1]))
        return self.head(x)
