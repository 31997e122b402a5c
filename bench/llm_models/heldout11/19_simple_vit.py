# undefined: posemb_sincos_2d, PreNorm, default
import torch
import torch.nn as nn


class SelfAttn(nn.Module):
    def __init__(self, dim, heads=8, dim_head=None):
        super().__init__()
        dim_head = default(dim_head, dim // heads)
        inner_dim = dim_head * heads
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.attend = nn.Softmax(dim=-1)
        self.to_qkv = nn.Linear(dim, inner_dim * 3, bias=False)
        self.to_out = nn.Linear(inner_dim, dim, bias=False)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attn = self.attend(torch.matmul(q, k.transpose(-1, -2)) * self.scale)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class FFN(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x):
        return self.net(x)


class Net(nn.Module):
    """lucidrains SimpleViT (2D sincos pos-emb, mean pooling) for CIFAR-10."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = default(prm, {})
        dim = prm.get("dim", 128)
        depth = default(prm.get("depth"), 4)
        heads = default(prm.get("heads"), 4)
        mlp_dim = dim * 2
        self.patch_size = 4
        patch_dim = in_shape[1] * self.patch_size ** 2
        gh, gw = in_shape[2] // self.patch_size, in_shape[3] // self.patch_size
        self.to_patch_embedding = nn.Sequential(
            nn.LayerNorm(patch_dim),
            nn.Linear(patch_dim, dim),
            nn.LayerNorm(dim),
        )
        self.register_buffer("pos_embedding", posemb_sincos_2d(h=gh, w=gw, dim=dim), persistent=False)
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([
                PreNorm(dim, SelfAttn(dim, heads=heads)),
                PreNorm(dim, FFN(dim, mlp_dim)),
            ]))
        self.norm = nn.LayerNorm(dim)
        self.linear_head = nn.Linear(dim, out_shape[0])

    def forward(self, img):
        b, c, h, w = img.shape
        p = self.patch_size
        x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)
        x = self.to_patch_embedding(x)
        x = x + self.pos_embedding.to(x.device, dtype=x.dtype)
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        x = self.norm(x).mean(dim=1)
        return self.linear_head(x)
