# undefined: PoolFormerBlock, GroupNorm
"""Tiny PoolFormer (MetaFormer with pooling token mixer) for CIFAR-10.

Yu et al., "MetaFormer Is Actually What You Need for Vision", CVPR 2022
(official code: github.com/sail-sg/poolformer).
"""
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        layers = [2, 2, 4, 2]
        embed_dims = [48, 96, 192, 384]
        mlp_ratios = [4, 4, 4, 4]
        drop_path_rate = 0.1
        self.patch_embed = nn.Conv2d(in_shape[1], embed_dims[0], kernel_size=3, stride=1, padding=1)

        network = []
        for i in range(len(layers)):
            blocks = []
            for block_idx in range(layers[i]):
                dpr = drop_path_rate * (block_idx + sum(layers[:i])) / (sum(layers) - 1)
                blocks.append(PoolFormerBlock(
                    embed_dims[i], pool_size=3, mlp_ratio=mlp_ratios[i],
                    act_layer=nn.GELU, norm_layer=GroupNorm,
                    drop=prm['dropout'], drop_path=dpr,
                    use_layer_scale=True, layer_scale_init_value=1e-5))
            network.append(nn.Sequential(*blocks))
            if i < len(layers) - 1:
                network.append(nn.Conv2d(embed_dims[i], embed_dims[i + 1], kernel_size=3, stride=2, padding=1))
        self.network = nn.ModuleList(network)
        self.norm = GroupNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], out_shape[0])

    def forward(self, x):
        x = self.patch_embed(x)
        for block in self.network:
            x = block(x)
        x = self.norm(x)
        return self.head(x.mean([-2, -1]))

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
