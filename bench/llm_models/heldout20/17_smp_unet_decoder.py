# undefined: DecoderBlock, SegmentationHead
import torch
import torch.nn as nn


def conv_stage(in_ch, out_ch, stride):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class TinyUnet(nn.Module):
    """Small U-Net: hand-written encoder + segmentation_models_pytorch decoder blocks and head."""

    def __init__(self, in_channels=3, classes=10, encoder_channels=(16, 32, 64, 128),
                 decoder_channels=(64, 32, 16)):
        super().__init__()
        self.enc0 = conv_stage(in_channels, encoder_channels[0], 1)        # 32x32
        self.enc1 = conv_stage(encoder_channels[0], encoder_channels[1], 2)  # 16x16
        self.enc2 = conv_stage(encoder_channels[1], encoder_channels[2], 2)  # 8x8
        self.enc3 = conv_stage(encoder_channels[2], encoder_channels[3], 2)  # 4x4

        head_channels = encoder_channels[-1]
        in_chs = [head_channels] + list(decoder_channels[:-1])
        skip_chs = list(encoder_channels[:-1])[::-1]
        attn = ['scse', None, None]
        self.blocks = nn.ModuleList([
            DecoderBlock(in_ch, skip_ch, out_ch, use_batchnorm=True, attention_type=a)
            for in_ch, skip_ch, out_ch, a in zip(in_chs, skip_chs, decoder_channels, attn)
        ])
        self.segmentation_head = SegmentationHead(
            in_channels=decoder_channels[-1],
            out_channels=classes,
            activation=None,
            kernel_size=3,
        )

    def forward(self, x):
        f0 = self.enc0(x)
        f1 = self.enc1(f0)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        skips = [f2, f1, f0]
        d = f3
        for block, skip in zip(self.blocks, skips):
            d = block(d, skip)
        return self.segmentation_head(d)
