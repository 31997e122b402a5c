# undefined: EfficientAdditiveAttnetion
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class ConvEncoderBlock(nn.Module):
    """SwiftFormer conv encoder: dw3x3 -> BN -> pw expand -> GELU -> pw project."""

    def __init__(self, dim, hidden_dim, drop=0.0):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.pwconv1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(hidden_dim, dim, 1)
        self.drop = nn.Dropout(drop)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.drop(self.layer_scale * y)


class SwiftEncoder(nn.Module):
    """Local representation + efficient additive attention + MLP."""

    def __init__(self, dim, mlp_ratio=3.0, drop=0.0):
        super().__init__()
        self.local_representation = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
            nn.BatchNorm2d(dim),
            nn.Conv2d(dim, dim, 1),
            nn.GELU(),
            nn.Conv2d(dim, dim, 1),
        )
        self.attn = EfficientAdditiveAttnetion(in_dims=dim, token_dim=dim, num_heads=1)
        self.linear = nn.Sequential(
            nn.BatchNorm2d(dim),
            nn.Conv2d(dim, int(dim * mlp_ratio), 1),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Conv2d(int(dim * mlp_ratio), dim, 1),
        )
        self.layer_scale_1 = nn.Parameter(1e-5 * torch.ones(dim).unsqueeze(-1).unsqueeze(-1))
        self.layer_scale_2 = nn.Parameter(1e-5 * torch.ones(dim).unsqueeze(-1).unsqueeze(-1))

    def forward(self, x):
        x = self.local_representation(x)
        B, C, H, W = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(B, H * W, C)
        attn = self.attn(tokens).reshape(B, H, W, C).permute(0, 3, 1, 2)
        x = x + self.layer_scale_1 * attn
        x = x + self.layer_scale_2 * self.linear(x)
        return x


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        c_in = in_shape[1]
        n_cls = out_shape[0]
        drop = prm.get("dropout", 0.0)
        dims = [24, 48, 96]
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, dims[0] // 2, 3, 1, 1), nn.BatchNorm2d(dims[0] // 2), nn.ReLU(),
            nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1), nn.BatchNorm2d(dims[0]), nn.ReLU(),
        )  # 16x16
        self.stage1 = ConvEncoderBlock(dims[0], 3 * dims[0], drop)
        self.down1 = nn.Sequential(nn.Conv2d(dims[0], dims[1], 3, 2, 1), nn.BatchNorm2d(dims[1]))  # 8x8
        self.stage2 = nn.Sequential(ConvEncoderBlock(dims[1], 3 * dims[1], drop), SwiftEncoder(dims[1], drop=drop))
        self.down2 = nn.Sequential(nn.Conv2d(dims[1], dims[2], 3, 2, 1), nn.BatchNorm2d(dims[2]))  # 4x4
        self.stage3 = nn.Sequential(ConvEncoderBlock(dims[2], 3 * dims[2], drop), SwiftEncoder(dims[2], drop=drop))
        self.norm = nn.BatchNorm2d(dims[2])
        self.head = nn.Linear(dims[2], n_cls)
        self.dist_head = nn.Linear(dims[2], n_cls)
        self.to(device)

    def forward(self, x):
        x = self.stem(x)
        x = self.stage1(x)
        x = self.stage2(self.down1(x))
        x = self.stage3(self.down2(x))
        x = self.norm(x).flatten(2).mean(-1)
        return (self.head(x) + self.dist_head(x)) / 2

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"], nesterov=True)

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs = inputs.to(self.device)
            labels = labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
