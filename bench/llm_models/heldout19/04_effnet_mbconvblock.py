# undefined: BlockArgs, GlobalParams, MBConvBlock
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Tiny EfficientNet for CIFAR built from efficientnet_pytorch building blocks
    (MBConvBlock driven by BlockArgs / GlobalParams namedtuples)."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        in_chans = in_shape[1]
        image_size = [in_shape[2], in_shape[3]]
        num_classes = out_shape[0]

        self._global_params = GlobalParams(
            width_coefficient=1.0,
            depth_coefficient=1.0,
            image_size=image_size,
            dropout_rate=prm.get("dropout", 0.2),
            num_classes=num_classes,
            batch_norm_momentum=0.99,
            batch_norm_epsilon=1e-3,
            drop_connect_rate=prm.get("drop_connect_rate", 0.1),
            depth_divisor=8,
            min_depth=None,
            include_top=True,
        )
        bn_mom = 1 - self._global_params.batch_norm_momentum
        bn_eps = self._global_params.batch_norm_epsilon

        blocks_args = [
            BlockArgs(num_repeat=1, kernel_size=3, stride=1, expand_ratio=1,
                      input_filters=24, output_filters=16, se_ratio=0.25, id_skip=True),
            BlockArgs(num_repeat=2, kernel_size=3, stride=2, expand_ratio=4,
                      input_filters=16, output_filters=24, se_ratio=0.25, id_skip=True),
            BlockArgs(num_repeat=2, kernel_size=5, stride=2, expand_ratio=4,
                      input_filters=24, output_filters=40, se_ratio=0.25, id_skip=True),
            BlockArgs(num_repeat=1, kernel_size=3, stride=2, expand_ratio=4,
                      input_filters=40, output_filters=80, se_ratio=0.25, id_skip=True),
        ]

        # stem keeps full resolution for 32x32 inputs
        self._conv_stem = nn.Conv2d(in_chans, 24, kernel_size=3, stride=1, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(24, momentum=bn_mom, eps=bn_eps)

        self._blocks = nn.ModuleList()
        for block_args in blocks_args:
            self._blocks.append(MBConvBlock(block_args, self._global_params, image_size=image_size))
            image_size = [int(math.ceil(s / block_args.stride)) for s in image_size]
            if block_args.num_repeat > 1:
                block_args = block_args._replace(input_filters=block_args.output_filters, stride=1)
            for _ in range(block_args.num_repeat - 1):
                self._blocks.append(MBConvBlock(block_args, self._global_params, image_size=image_size))

        head_ch = 320
        self._conv_head = nn.Conv2d(blocks_args[-1].output_filters, head_ch, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head_ch, momentum=bn_mom, eps=bn_eps)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(self._global_params.dropout_rate)
        self._fc = nn.Linear(head_ch, num_classes)

    def forward(self, x):
        x = F.silu(self._bn0(self._conv_stem(x)))
        for idx, block in enumerate(self._blocks):
            drop_connect_rate = self._global_params.drop_connect_rate
            if drop_connect_rate:
                drop_connect_rate *= float(idx) / len(self._blocks)
            x = block(x, drop_connect_rate=drop_connect_rate)
        x = F.silu(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(start_dim=1)
        return self._fc(self._dropout(x))
