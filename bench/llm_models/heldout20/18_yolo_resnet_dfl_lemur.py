# undefined: ResNetLayer, DFL
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """Single-scale anchor-free detector: ultralytics ResNet layers + DFL box decoding."""

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.nc = out_shape[0]
        self.reg_max = 16
        self.backbone = nn.Sequential(
            ResNetLayer(in_shape[1], 16, 1, True, 1),    # stem: 7x7/2 conv + maxpool -> /4
            ResNetLayer(16, 16, 1, False, 1, 4),        # -> 64 ch
            ResNetLayer(64, 32, 2, False, 2, 4),        # -> 128 ch, /8
        )
        c2, c3 = 64, 64
        self.box_head = nn.Sequential(
            nn.Conv2d(128, c2, 3, padding=1), nn.SiLU(), nn.Conv2d(c2, 4 * self.reg_max, 1))
        self.cls_head = nn.Sequential(
            nn.Conv2d(128, c3, 3, padding=1), nn.SiLU(), nn.Dropout(prm['dropout']), nn.Conv2d(c3, self.nc, 1))
        self.dfl = DFL(self.reg_max) if self.reg_max > 1 else nn.Identity()

    def forward(self, x):
        feat = self.backbone(x)
        b = feat.shape[0]
        box = self.box_head(feat).view(b, 4 * self.reg_max, -1)
        cls = self.cls_head(feat).view(b, self.nc, -1)
        dbox = self.dfl(box)
        return torch.cat((dbox, cls.sigmoid()), 1)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.BCEWithLogitsLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            feat = self.backbone(inputs)
            logits = self.cls_head(feat).mean((2, 3))
            target = nn.functional.one_hot(labels, self.nc).float()
            loss = self.criteria[0](logits, target)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
