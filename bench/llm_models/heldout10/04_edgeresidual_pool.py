# undefined: EdgeResidual, SelectAdaptivePool2d
import torch
import torch.nn as nn


class Net(nn.Module):
    """EfficientNet-EdgeTPU-like network built from fused (edge) residual blocks."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        num_classes = out_shape[0]
        act_layer = nn.SiLU
        self.conv_stem = nn.Conv2d(in_shape[1], 24, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.act1 = act_layer(inplace=True)

        # (out_chs, stride, exp_ratio, repeats)
        cfg = [(24, 1, 1.0, 1), (48, 2, 4.0, 2), (64, 2, 4.0, 2), (96, 2, 4.0, 1)]
        blocks = []
        in_chs = 24
        for out_chs, stride, exp_ratio, repeats in cfg:
            for r in range(repeats):
                blocks.append(
                    EdgeResidual(
                        in_chs,
                        out_chs,
                        exp_kernel_size=3,
                        stride=stride if r == 0 else 1,
                        exp_ratio=exp_ratio,
                        act_layer=act_layer,
                        drop_path_rate=0.0,
                    )
                )
                in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Conv2d(in_chs, 256, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(256)
        self.act2 = act_layer(inplace=True)
        self.global_pool = SelectAdaptivePool2d(pool_type="catavgmax", flatten=True)
        self.num_features = 256 * self.global_pool.feat_mult()
        self.drop_rate = prm.get("dropout", 0.2)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.act2(self.bn2(self.conv_head(x)))
        x = self.global_pool(x)
        x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)
