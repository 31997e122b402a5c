# undefined: PatchEmbedding, ViTBlock
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Vision Transformer following the d2l.ai ViT chapter, sized for 32x32 CIFAR-10 images."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        self.device = torch.device(device)
        img_size = in_shape[2]
        patch_size = 4
        num_hiddens = 256
        mlp_num_hiddens = 512
        num_heads = 8
        num_blks = 4
        emb_dropout = prm.get('dropout', 0.1)
        blk_dropout = prm.get('dropout', 0.1)
        use_bias = False

        self.patch_embedding = PatchEmbedding(img_size, patch_size, num_hiddens)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, num_hiddens))
        num_steps = self.patch_embedding.num_patches + 1  # Add the cls token
        # Positional embeddings are learnable
        self.pos_embedding = nn.Parameter(torch.randn(1, num_steps, num_hiddens))
        self.dropout = nn.Dropout(emb_dropout)
        self.blks = nn.Sequential()
        for i in range(num_blks):
            self.blks.add_module(f"{i}", ViTBlock(
                num_hiddens, num_hiddens, mlp_num_hiddens,
                num_heads, blk_dropout, use_bias))
        self.head = nn.Sequential(nn.LayerNorm(num_hiddens),
                                  nn.Linear(num_hiddens, out_shape[0]))

    def forward(self, X):
        X = self.patch_embedding(X)
        X = torch.cat((self.cls_token.expand(X.shape[0], -1, -1), X), 1)
        X = self.dropout(X + self.pos_embedding)
        for blk in self.blks:
            X = blk(X)
        return self.head(X[:, 0])

    def predict(self, X):
        self.eval()
        with torch.no_grad():
            logits = self.forward(X.to(self.device))
        return F.softmax(logits, dim=-1).argmax(dim=-1)

    def count_parameters(self):
        return sum(p.numel() for p in self.parameters()
                   if not isinstance(p, nn.parameter.UninitializedParameter))
