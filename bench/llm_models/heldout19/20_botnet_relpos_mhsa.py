# undefined: AbsPosEmb, relative_logits_1d
import torch
import torch.nn as nn
from torch import einsum
from einops import rearrange


class RelPosEmb(nn.Module):
    """2D relative position logits (height + width factorised), BoTNet."""

    def __init__(self, fmap_size, dim_head):
        super().__init__()
        scale = dim_head ** -0.5
        self.fmap_size = fmap_size
        self.rel_height = nn.Parameter(torch.randn(fmap_size * 2 - 1, dim_head) * scale)
        self.rel_width = nn.Parameter(torch.randn(fmap_size * 2 - 1, dim_head) * scale)

    def forward(self, q):
        q = rearrange(q, 'b h (x y) d -> b h x y d', x=self.fmap_size)
        rel_logits_w = relative_logits_1d(q, self.rel_width)
        rel_logits_w = rearrange(rel_logits_w, 'b h x i y j-> b h (x y) (i j)')

        q = rearrange(q, 'b h x y d -> b h y x d')
        rel_logits_h = relative_logits_1d(q, self.rel_height)
        rel_logits_h = rearrange(rel_logits_h, 'b h x i y j -> b h (y x) (j i)')
        return rel_logits_w + rel_logits_h


class MHSA2d(nn.Module):
    def __init__(self, *, dim, fmap_size, heads=4, dim_head=32, rel_pos_emb=True):
        super().__init__()
        self.heads = heads
        self.scale = dim_head ** -0.5
        inner_dim = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, inner_dim * 3, 1, bias=False)
        rel_pos_class = AbsPosEmb if not rel_pos_emb else RelPosEmb
        self.pos_emb = rel_pos_class(fmap_size, dim_head)

    def forward(self, fmap):
        heads, b, c, h, w = self.heads, *fmap.shape
        q, k, v = self.to_qkv(fmap).chunk(3, dim=1)
        q, k, v = map(lambda t: rearrange(t, 'b (h d) x y -> b h (x y) d', h=heads), (q, k, v))
        q = q * self.scale
        sim = einsum('b h i d, b h j d -> b h i j', q, k)
        sim = sim + self.pos_emb(q)
        attn = sim.softmax(dim=-1)
        out = einsum('b h i j, b h j d -> b h i d', attn, v)
        return rearrange(out, 'b h (x y) d -> b (h d) x y', x=h, y=w)


class BoTBlock(nn.Module):
    def __init__(self, dim, fmap_size, dim_out, proj_factor=4, heads=4, dim_head=32, rel_pos_emb=True):
        super().__init__()
        attn_dim_in = dim_out // proj_factor
        attn_dim_out = heads * dim_head
        self.shortcut = nn.Identity() if dim == dim_out else nn.Sequential(
            nn.Conv2d(dim, dim_out, 1, bias=False), nn.BatchNorm2d(dim_out), nn.ReLU())
        self.net = nn.Sequential(
            nn.Conv2d(dim, attn_dim_in, 1, bias=False),
            nn.BatchNorm2d(attn_dim_in),
            nn.ReLU(),
            MHSA2d(dim=attn_dim_in, fmap_size=fmap_size, heads=heads, dim_head=dim_head, rel_pos_emb=rel_pos_emb),
            nn.BatchNorm2d(attn_dim_out),
            nn.ReLU(),
            nn.Conv2d(attn_dim_out, dim_out, 1, bias=False),
            nn.BatchNorm2d(dim_out),
        )
        nn.init.zeros_(self.net[-1].weight)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.net(x) + self.shortcut(x))


class Net(nn.Module):
    """Tiny BoTNet: conv stem down to an 8x8 map, then bottleneck-transformer blocks
    with relative position self-attention."""

    def __init__(self, in_shape=(1, 3, 32, 32), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        fmap = in_shape[2] // 4
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        )
        self.bot = nn.Sequential(
            BoTBlock(128, fmap, 256, rel_pos_emb=prm.get("rel_pos_emb", True)),
            BoTBlock(256, fmap, 256, rel_pos_emb=prm.get("rel_pos_emb", True)),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, out_shape[0])

    def forward(self, x):
        x = self.stem(x)
        x = self.bot(x)
        return self.fc(self.pool(x).flatten(1))
