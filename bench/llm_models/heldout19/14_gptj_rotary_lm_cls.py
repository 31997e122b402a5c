# undefined: create_sinusoidal_positions, apply_rotary_pos_emb
# input: 2,16 int64
import torch
import torch.nn as nn
import torch.nn.functional as F


class GPTJStyleAttention(nn.Module):
    """Causal self-attention with GPT-J partial rotary embeddings (rotary_dim < head_dim)."""

    def __init__(self, embed_dim, num_heads, rotary_dim, max_positions=512, attn_pdrop=0.0):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_attention_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.rotary_dim = rotary_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.attn_dropout = nn.Dropout(attn_pdrop)
        pos_embd_dim = self.rotary_dim or self.embed_dim
        self.register_buffer("embed_positions", create_sinusoidal_positions(max_positions, pos_embd_dim),
                             persistent=False)

    def _split_heads(self, tensor):
        return tensor.view(tensor.size()[:-1] + (self.num_attention_heads, self.head_dim))

    def forward(self, hidden_states, position_ids):
        b, s, _ = hidden_states.shape
        query = self._split_heads(self.q_proj(hidden_states))   # (b, s, h, d)
        key = self._split_heads(self.k_proj(hidden_states))
        value = self._split_heads(self.v_proj(hidden_states)).permute(0, 2, 1, 3)

        embed_positions = self.embed_positions.repeat(position_ids.shape[0], 1, 1)
        repeated_position_ids = position_ids.unsqueeze(-1).repeat(1, 1, embed_positions.shape[-1])
        sincos = torch.gather(embed_positions, 1, repeated_position_ids)
        sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)

        k_rot, k_pass = key[..., : self.rotary_dim], key[..., self.rotary_dim:]
        q_rot, q_pass = query[..., : self.rotary_dim], query[..., self.rotary_dim:]
        k_rot = apply_rotary_pos_emb(k_rot, sin, cos)
        q_rot = apply_rotary_pos_emb(q_rot, sin, cos)
        key = torch.cat([k_rot, k_pass], dim=-1).permute(0, 2, 1, 3)
        query = torch.cat([q_rot, q_pass], dim=-1).permute(0, 2, 1, 3)

        attn_output = F.scaled_dot_product_attention(
            query, key, value, dropout_p=self.attn_dropout.p if self.training else 0.0, is_causal=True)
        attn_output = attn_output.permute(0, 2, 1, 3).reshape(b, s, self.embed_dim)
        return self.out_proj(attn_output)


class GPTJStyleBlock(nn.Module):
    """Parallel attention + MLP residual block (GPT-J)."""

    def __init__(self, embed_dim, num_heads, rotary_dim, inner_dim, resid_pdrop=0.1):
        super().__init__()
        self.ln_1 = nn.LayerNorm(embed_dim, eps=1e-5)
        self.attn = GPTJStyleAttention(embed_dim, num_heads, rotary_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, inner_dim), nn.GELU(approximate="tanh"),
            nn.Linear(inner_dim, embed_dim), nn.Dropout(resid_pdrop),
        )

    def forward(self, hidden_states, position_ids):
        residual = hidden_states
        hidden_states = self.ln_1(hidden_states)
        return self.attn(hidden_states, position_ids) + self.mlp(hidden_states) + residual


class Net(nn.Module):
    def __init__(self, in_shape=(1, 16), out_shape=(10,), prm=None, device="cpu"):
        super().__init__()
        prm = prm or {}
        vocab_size = prm.get("vocab_size", 512)
        n_embd = prm.get("n_embd", 128)
        n_head = prm.get("n_head", 4)
        rotary_dim = prm.get("rotary_dim", 16)
        n_layer = prm.get("n_layer", 2)
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.drop = nn.Dropout(0.1)
        self.h = nn.ModuleList([GPTJStyleBlock(n_embd, n_head, rotary_dim, 4 * n_embd) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.score = nn.Linear(n_embd, out_shape[0], bias=False)

    def forward(self, input_ids):
        b, s = input_ids.shape
        position_ids = torch.arange(s, device=input_ids.device).unsqueeze(0).expand(b, -1)
        hidden_states = self.drop(self.wte(input_ids))
        for block in self.h:
            hidden_states = block(hidden_states, position_ids)
        hidden_states = self.ln_f(hidden_states)
        # sequence classification on the last token (GPTJForSequenceClassification style)
        return self.score(hidden_states[:, -1])
