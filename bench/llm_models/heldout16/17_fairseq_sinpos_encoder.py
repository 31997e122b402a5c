# undefined: SinusoidalPositionalEmbedding
import math
import torch
import torch.nn as nn


class PatchTokenEncoder(nn.Module):
    """fairseq-style encoder over image patches: scaled embeddings + fixed sinusoidal positions."""

    def __init__(self, embed_dim, num_patches, layers=3, heads=4, padding_idx=1):
        super().__init__()
        self.padding_idx = padding_idx
        self.embed_scale = math.sqrt(embed_dim)
        self.embed_positions = SinusoidalPositionalEmbedding(
            embed_dim, padding_idx, init_size=num_patches + padding_idx + 1)
        layer = nn.TransformerEncoderLayer(embed_dim, heads, dim_feedforward=embed_dim * 2, dropout=0.1,
                                           activation="relu", batch_first=False, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.layer_norm = nn.LayerNorm(embed_dim)

    def forward(self, tokens_emb):  # B x T x C
        B, T, _ = tokens_emb.shape
        # every patch is a real (non-pad) token; ids only drive the position lookup
        src_tokens = tokens_emb.new_full((B, T), self.padding_idx + 1, dtype=torch.long)
        x = self.embed_scale * tokens_emb + self.embed_positions(src_tokens)
        x = x.transpose(0, 1)  # B x T x C -> T x B x C (fairseq layout)
        x = self.layers(x)
        return self.layer_norm(x.transpose(0, 1))


class PatchSeqClassifier(nn.Module):
    def __init__(self, num_classes=10, patch=4, embed_dim=128):
        super().__init__()
        num_patches = (32 // patch) ** 2
        self.patchify = nn.Sequential(
            nn.Conv2d(3, embed_dim // 2, 3, 1, 1), nn.BatchNorm2d(embed_dim // 2), nn.ReLU(inplace=True),
            nn.Conv2d(embed_dim // 2, embed_dim, patch, patch))
        self.encoder = PatchTokenEncoder(embed_dim, num_patches)
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(embed_dim, num_classes))

    def forward(self, x):
        x = self.patchify(x).flatten(2).transpose(1, 2)
        x = self.encoder(x)
        return self.classifier(x.mean(dim=1))
