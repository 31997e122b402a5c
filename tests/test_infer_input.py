"""sandbox.infer_input: proposals are read from the built module and the first one fits.

The modules here are trusted torch layers and classes written in this test, so running
them in the test process is fine (block code from a corpus only ever runs in the sandbox).
"""

import torch
from torch import nn

from sandbox.infer_input import propose_inputs, propose_structured
from sandbox.runner import make_inputs


def _first_that_runs(module: nn.Module) -> tuple[int, list[list[int]]]:
    for rank, (shapes, dtypes) in enumerate(propose_inputs(module)):
        try:
            out = module(*make_inputs(shapes, dtypes))
        except Exception:  # noqa: BLE001 - a wrong guess, try the next
            continue
        assert isinstance(out, torch.Tensor)
        return rank, shapes
    raise AssertionError(f"no proposal runs for {type(module).__name__}: {propose_inputs(module)}")


class TokenAttention(nn.Module):
    def __init__(self, dim: int = 24, num_heads: int = 3):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        x = torch.softmax(q @ k.transpose(-2, -1), -1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Stem(nn.Module):
    def __init__(self, in_chs: int = 7):
        super().__init__()
        self.in_chs = in_chs
        self.conv = nn.Conv2d(in_chs, 8, 3, stride=2)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


class ChannelsLast(nn.Module):
    def __init__(self, channels: int = 12):
        super().__init__()
        self.channels = channels
        self.norm = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, channels)

    def forward(self, x):
        assert x.dim() == 4 and x.shape[-1] == self.channels
        return self.fc(self.norm(x))


class FixedImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.img_size = (48, 40)
        self.proj = nn.Conv2d(3, 8, 8, 8)

    def forward(self, x):
        assert tuple(x.shape[2:]) == self.img_size
        return self.proj(x)


def test_conv_channels_come_from_the_first_conv():
    rank, shapes = _first_that_runs(nn.Sequential(nn.Conv2d(5, 8, 3), nn.ReLU()))
    assert rank == 0 and shapes[0][1] == 5 and len(shapes[0]) == 4


def test_conv1d_and_conv3d_get_their_rank():
    _, shapes = _first_that_runs(nn.Conv1d(6, 4, 3))
    assert len(shapes[0]) == 3 and shapes[0][1] == 6
    _, shapes = _first_that_runs(nn.Conv3d(2, 4, 3))
    assert len(shapes[0]) == 5 and shapes[0][1] == 2


def test_linear_in_features():
    rank, shapes = _first_that_runs(nn.Sequential(nn.Linear(13, 4), nn.GELU()))
    assert rank == 0 and shapes == [[2, 13]]


def test_embedding_gets_int64_token_ids():
    proposals = propose_inputs(nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 2)))
    assert proposals[0][1] == ["int64"]
    _first_that_runs(nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 2)))


def test_attention_gets_tokens_first():
    rank, shapes = _first_that_runs(TokenAttention())
    assert rank == 0 and len(shapes[0]) == 3 and shapes[0][-1] == 24


def test_attribute_channels_beat_the_default_image():
    rank, shapes = _first_that_runs(Stem(in_chs=7))
    assert rank == 0 and shapes[0][1] == 7


def test_channels_last_blocks_are_found():
    _, shapes = _first_that_runs(ChannelsLast(12))
    assert len(shapes[0]) == 4 and shapes[0][-1] == 12


def test_fixed_image_size_is_read_from_the_module():
    rank, shapes = _first_that_runs(FixedImage())
    assert rank == 0 and shapes[0][2:] == [48, 40]


def test_losses_get_input_and_target():
    for loss in (nn.CrossEntropyLoss(), nn.MSELoss(), nn.SmoothL1Loss()):
        shapes_dtypes = propose_inputs(loss)
        assert all(len(shapes) == 2 for shapes, _ in shapes_dtypes[:2])
        ok = False
        for shapes, dtypes in shapes_dtypes:
            try:
                out = loss(*make_inputs(shapes, dtypes))
            except Exception:  # noqa: BLE001
                continue
            ok = out.dim() == 0
            break
        assert ok, type(loss).__name__


def test_parameterless_forward_without_args_is_offered_first():
    class Constant(nn.Module):
        def forward(self):
            return torch.ones(2)

    assert propose_inputs(Constant())[0] == ([], [])


def test_proposals_are_unique_small_and_bounded():
    proposals = propose_inputs(TokenAttention())
    keys = [repr(p) for p in proposals]
    assert len(keys) == len(set(keys)) and 1 <= len(keys) <= 12
    for shapes, dtypes in proposals:
        assert len(shapes) == len(dtypes)
        assert all(s[0] == 2 for s in shapes)


def test_mined_copies_of_torch_layers_are_recognised_by_name():
    # A block mined from torch.nn defines its own ``class Conv2d`` (not torch.nn.Conv2d).
    class Conv2d(nn.Module):
        def __init__(self, in_channels=6, out_channels=4, kernel_size=(3, 3)):
            super().__init__()
            self.in_channels, self.kernel_size = in_channels, kernel_size
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, *kernel_size))

        def forward(self, x):
            return torch.nn.functional.conv2d(x, self.weight)

    class EmbeddingBag(nn.Module):
        def __init__(self, num_embeddings=20, embedding_dim=4):
            super().__init__()
            self.num_embeddings = num_embeddings
            self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

        def forward(self, ids):
            return torch.nn.functional.embedding_bag(ids, self.weight, mode="mean")

    rank, shapes = _first_that_runs(Conv2d())
    assert rank == 0 and shapes[0][1] == 6
    assert propose_inputs(EmbeddingBag())[0] == ([[2, 16]], ["int64"])


def test_norm_without_layers_uses_its_first_vector_parameter():
    class ChannelScale(nn.Module):
        def __init__(self, n=11):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(1, n, 1, 1))

        def forward(self, x):
            assert x.dim() == 4
            return x * self.weight

    _, shapes = _first_that_runs(ChannelScale())
    assert shapes[0][1] == 11


def test_windowed_blocks_get_an_image_their_window_divides():
    class Windowed(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.window_size = (7, 7)
            self.norm = nn.LayerNorm(dim)

        def forward(self, x):  # (B, C, H, W) cut into 7x7 windows
            b, c, h, w = x.shape
            windows = x.view(b, c, h // 7, 7, w // 7, 7)
            return self.norm(windows.permute(0, 2, 4, 3, 5, 1)).sum()

    _, shapes = _first_that_runs(Windowed())
    assert shapes[0][2] % 7 == 0 and shapes[0][1] == 8


def test_relative_position_bias_gets_window_attention_scores():
    class RelPosBiasLike(nn.Module):
        def __init__(self, window_size=(3, 3), num_heads=2):
            super().__init__()
            self.window_size, self.num_heads = window_size, num_heads
            n = window_size[0] * window_size[1]
            self.table = nn.Parameter(torch.zeros(num_heads, n, n))

        def forward(self, attn):
            return attn + self.table.unsqueeze(0)

    rank, shapes = _first_that_runs(RelPosBiasLike())
    assert rank == 0 and shapes == [[2, 2, 9, 9]]


def test_losses_with_their_own_width_get_features_of_that_width():
    loss = nn.AdaptiveLogSoftmaxWithLoss(24, 40, cutoffs=[10, 20])
    shapes, dtypes = propose_inputs(loss)[0]
    assert shapes == [[2, 24], [2]] and dtypes == ["float32", "int64"]
    out = loss(*make_inputs(shapes, dtypes))
    out.loss.backward()


# --- structured inputs -------------------------------------------------------------------


class _Neck(torch.nn.Module):
    """Per-level convs over a list of feature maps (FPN-like)."""

    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(8, 4, 1), torch.nn.Conv2d(16, 4, 1)])

    def forward(self, feats):
        return [conv(f) for conv, f in zip(self.convs, feats)]


class _Tokens(torch.nn.Module):
    def __init__(self, dim=12):
        super().__init__()
        self.dim = dim
        self.proj = torch.nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x, H: int, W: int):
        B, N, C = x.shape
        return self.proj(x.transpose(1, 2).reshape(B, C, H, W)).flatten(2).transpose(1, 2)


class _ByKey(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(6, 6, 1)

    def forward(self, feats):
        return self.conv(feats["0"])


def _run_first_working(module):
    from sandbox.runner import build_input

    for specs in propose_structured(module):
        try:
            return specs, module(*[build_input(s, {}) for s in specs])
        except Exception:  # noqa: BLE001 - the next proposal
            continue
    raise AssertionError(f"no structured proposal works for {type(module).__name__}")


def test_lists_of_feature_maps_follow_the_per_level_layers():
    specs, out = _run_first_working(_Neck())
    maps = specs[0]["items"]
    assert specs[0]["kind"] == "list" and [m["shape"][1] for m in maps] == [8, 16]
    assert len(out) == 2


def test_sizes_beside_tokens_agree_with_the_token_count():
    specs, out = _run_first_working(_Tokens())
    tokens, h, w = specs
    assert tokens["shape"][1] == h["value"] * w["value"] and tokens["shape"][2] == 12
    assert out.shape == tuple(tokens["shape"])


def test_string_keys_make_a_dict_and_plain_tensor_blocks_get_no_structured_proposal():
    specs, _ = _run_first_working(_ByKey())
    assert specs[0]["kind"] == "dict" and "0" in specs[0]["items"]
    assert propose_structured(torch.nn.Conv2d(3, 4, 3)) == []


def test_probability_losses_get_inputs_in_the_unit_interval():
    specs, out = _run_first_working(torch.nn.BCELoss())
    assert all(s["range"][0] >= 0 and s["range"][1] <= 1 for s in specs)
    assert out.dim() == 0


class WideBranches(nn.Module):
    """Inception-style block whose input width (1088) makes a 32x32 map exceed the element budget."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.Conv2d(1088, 8, 1)
        self.branch1 = nn.Sequential(nn.Conv2d(1088, 8, 1), nn.Conv2d(8, 8, 3, padding=1))

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x)], 1)


def test_wide_inputs_shrink_their_maps_to_stay_within_the_budget():
    rank, shapes = _first_that_runs(WideBranches())
    assert shapes[0][1] == 1088 and rank <= 1
    assert shapes[0][2] * shapes[0][3] <= 16 * 16


def test_three_d_and_instance_norms_get_inputs_of_their_rank():
    for layer in (nn.BatchNorm3d(6), nn.InstanceNorm3d(6), nn.InstanceNorm1d(6, affine=True)):
        rank, shapes = _first_that_runs(layer)
        assert shapes[0][1] == 6 and len(shapes[0]) == (5 if "3d" in type(layer).__name__ else 3), (type(layer).__name__, shapes)


class _GraphConv(nn.Module):
    """A message-passing layer in the PyTorch Geometric style: node features beside an edge list."""

    def __init__(self, in_channels: int = 6, out_channels: int = 8, edge_dim: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.edge_dim = edge_dim
        self.lin = nn.Linear(in_channels, out_channels)
        self.edge_lin = nn.Linear(edge_dim, out_channels)

    def forward(self, x, edge_index, edge_attr):
        src, dst = edge_index
        messages = self.lin(x)[src] + self.edge_lin(edge_attr)
        return torch.zeros(x.shape[0], messages.shape[1]).index_add(0, dst, messages)


class _Interaction(nn.Module):
    """An atom-graph model (SchNet-like): atomic numbers, positions and the molecule of each atom."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.embed = nn.Embedding(100, hidden)
        self.out = nn.Linear(hidden + 3, 1)

    def forward(self, z, pos, batch):
        h = self.out(torch.cat([self.embed(z), pos], dim=1))
        return torch.zeros(int(batch.max()) + 1, 1).index_add(0, batch, h)


class _EdgeDecoder(nn.Module):
    """Scores edges from node embeddings ``z`` (a graph autoencoder's decoder): here z is features, not atoms."""

    def forward(self, z, edge_index):
        return (z[edge_index[0]] * z[edge_index[1]]).sum(dim=-1)


def test_graph_layers_get_node_features_and_a_valid_edge_list():
    specs, out = _run_first_working(_GraphConv())
    x, edge_index, edge_attr = specs
    assert x["shape"][1] == 6 and edge_index["dtype"] == "int64" and edge_index["shape"][0] == 2
    assert edge_attr["shape"] == [edge_index["shape"][1], 3]
    assert out.shape == (x["shape"][0], 8)
    specs, out = _run_first_working(_Interaction())
    assert [s["dtype"] for s in specs] == ["int64", "float32", "int64"] and specs[1]["shape"][1] == 3
    assert out.dim() == 2
    specs, out = _run_first_working(_EdgeDecoder())
    assert specs[0]["dtype"] == "float32" and specs[0]["shape"] == [10, 16] and out.shape == (specs[1]["shape"][1],)
    tokens = propose_structured(_Tokens())[0]
    assert all(s.get("dtype") != "int64" for s in tokens), "no edge list for a block without graph arguments"
