# undefined: LayerNorm2d, drop_path
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class MixerLayer(nn.Module):
    """ConvMixer layer with channels-first LayerNorm and stochastic depth on both residuals."""

    def __init__(self, dim, kernel_size=7, drop_path_rate=0.0):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm1 = LayerNorm2d(dim)
        self.pw = nn.Conv2d(dim, dim, kernel_size=1)
        self.norm2 = LayerNorm2d(dim)
        self.act = nn.GELU()
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        y = self.norm1(self.act(self.dw(x)))
        x = x + drop_path(y, self.drop_path_rate, self.training)
        y = self.norm2(self.act(self.pw(x)))
        x = x + drop_path(y, self.drop_path_rate, self.training)
        return x


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        in_channels = in_shape[1]
        num_classes = out_shape[0]
        dim, depth, patch = 128, 6, 2
        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch),
            nn.GELU(),
            LayerNorm2d(dim, eps=1e-6),
        )
        dpr = [x.item() for x in torch.linspace(0, 0.1, depth)]
        self.layers = nn.Sequential(*[MixerLayer(dim, 5, dpr[i]) for i in range(depth)])
        self.down = nn.Sequential(LayerNorm2d(dim), nn.Conv2d(dim, dim * 2, kernel_size=2, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(dim * 2, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.layers(x)
        x = self.down(x)
        x = torch.flatten(self.pool(x), 1)
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
