# undefined: MLPBlock
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """FasterNet-T0-like classifier for 32x32 inputs (partial conv + MLP blocks)."""

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        in_chans = in_shape[1]
        num_classes = out_shape[0]
        embed_dim = 32
        depths = (1, 2, 2)
        drop_path_rate = 0.05
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]

        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_chans, embed_dim, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm2d(embed_dim),
        )
        stages = []
        for i_stage, depth in enumerate(depths):
            dim = int(embed_dim * 2 ** i_stage)
            for i in range(depth):
                stages.append(MLPBlock(
                    dim=dim,
                    n_div=4,
                    mlp_ratio=2.,
                    drop_path=dpr[sum(depths[:i_stage]) + i],
                    layer_scale_init_value=0,
                    act_layer=nn.GELU,
                    norm_layer=nn.BatchNorm2d,
                    pconv_fw_type='split_cat',
                ))
            if i_stage < len(depths) - 1:
                stages.append(nn.Sequential(
                    nn.Conv2d(dim, 2 * dim, kernel_size=2, stride=2, bias=False),
                    nn.BatchNorm2d(2 * dim),
                ))
        self.stages = nn.Sequential(*stages)
        num_features = int(embed_dim * 2 ** (len(depths) - 1))
        self.avgpool_pre_head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_features, 512, 1, bias=False),
            nn.GELU(),
        )
        self.dropout = nn.Dropout(prm['dropout'])
        self.head = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.stages(x)
        x = self.avgpool_pre_head(x)
        x = torch.flatten(x, 1)
        return self.head(self.dropout(x))

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
