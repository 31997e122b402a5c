# undefined: MobileOneBlock, RepMixer
import torch
import torch.nn as nn


class ConvFFNLite(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(dim, dim, 7, padding=3, groups=dim, bias=False), nn.BatchNorm2d(dim))
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.dw(x))))


class RepMixerLayer(nn.Module):
    def __init__(self, dim, mlp_ratio=3.0, layer_scale_init_value=1e-5):
        super().__init__()
        self.token_mixer = RepMixer(dim, kernel_size=3, layer_scale_init_value=layer_scale_init_value,
                                    inference_mode=False)
        self.mlp = ConvFFNLite(dim, int(dim * mlp_ratio))
        self.layer_scale = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))

    def forward(self, x):
        x = self.token_mixer(x)
        return x + self.layer_scale * self.mlp(x)


class Net(nn.Module):
    """FastViT-T8-like (timm fastvit) with MobileOne stem and RepMixer stages."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        dims = (48, 96, 192)
        self.stem = nn.Sequential(
            MobileOneBlock(in_chs=in_shape[1], out_chs=dims[0], kernel_size=3, stride=2, act_layer=nn.GELU),
            MobileOneBlock(in_chs=dims[0], out_chs=dims[0], kernel_size=3, stride=1, group_size=1,
                           act_layer=nn.GELU),
            MobileOneBlock(in_chs=dims[0], out_chs=dims[0], kernel_size=1, stride=1, act_layer=nn.GELU),
        )  # 16x16
        stages = []
        for i, d in enumerate(dims):
            if i > 0:
                stages.append(MobileOneBlock(dims[i - 1], d, 3, stride=2, use_se=True, num_conv_branches=2))
            stages.append(RepMixerLayer(d))
            stages.append(RepMixerLayer(d))
        self.stages = nn.Sequential(*stages)
        self.final_conv = MobileOneBlock(dims[-1], dims[-1] * 2, 3, stride=1, group_size=1, use_se=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dims[-1] * 2, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.final_conv(x)
        return self.head(self.pool(x).flatten(1))
