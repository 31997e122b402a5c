"""FLOPs that torch's ``FlopCounterMode`` misses: recurrent layers run as one fused op, attention on the CPU.

``nn.LSTM`` dispatches to a fused ``aten::lstm`` kernel for which the counter has no formula, so an LSTM model
counted only its linear head (GRU and RNN decompose into ``mm``/``addmm`` and are counted; the cells are counted).
``RecurrentFlops`` hooks every ``nn.RNNBase`` layer during a counted forward and adds the layer's gate matmuls
where the counter saw less than half of them, so a layer torch does count is never counted twice.

``F.scaled_dot_product_attention`` runs on the CPU as ``aten._scaled_dot_product_flash_attention_for_cpu``, an op the
counter has no formula for (it has them for the CUDA flash/efficient/cuDNN kernels), so attention counted 0 and a
model using it read ~9x cheaper than the same maths through ``nn.MultiheadAttention``. ``flop_counter`` gives the
counter torch's own sdpa formulas for the CPU ops (``CPU_SDPA_FORMULAS``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

_aten = torch.ops.aten


def _sdpa_forward(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    """torch's ``sdpa_flop`` (causal masks not discounted), for shapes as ``custom_mapping`` passes them."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_backward(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# The CPU kernels of scaled dot-product attention and torch's formulas for the same maths on its CUDA kernels
# (4 * B * H * L * S * E forward: two matmuls, 2 per multiply-add). Ops this torch build lacks are left out.
CPU_SDPA_FORMULAS: dict[Any, Any] = {
    getattr(_aten, name): formula
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", _sdpa_forward),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_backward),
                          ("_scaled_dot_product_fused_attention_overrideable", _sdpa_forward),
                          ("_scaled_dot_product_fused_attention_overrideable_backward", _sdpa_backward))
    if hasattr(_aten, name)
}


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts attention's CPU kernels."""
    return FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FORMULAS)

GATES = {"LSTM": 4, "GRU": 3}  # gate blocks per recurrent matmul; RNN_TANH / RNN_RELU have one


def recurrent_layer_flops(layer: nn.RNNBase, inputs: tuple[Any, ...]) -> int:
    """Forward FLOPs of ``layer``'s input and hidden matmuls (2 per multiply-add, as the counter counts) for
    ``inputs``: per token, layer and direction 2 * gates * hidden * (in + out), plus the LSTM projection."""
    tokens = _tokens(inputs[0] if inputs else None, layer.batch_first)
    gates = GATES.get(layer.mode, 1)
    out = layer.proj_size or layer.hidden_size
    directions = 2 if layer.bidirectional else 1
    per_token = 0
    for depth in range(layer.num_layers):
        width_in = layer.input_size if depth == 0 else out * directions
        projection = 2 * layer.hidden_size * layer.proj_size if layer.proj_size else 0
        per_token += directions * (2 * gates * layer.hidden_size * (width_in + out) + projection)
    return tokens * per_token


def _tokens(sequence: Any, batch_first: bool) -> int:
    """Time steps times batch of a recurrent layer's input: (L, N, H), (N, L, H), unbatched (L, H), or packed."""
    if isinstance(sequence, PackedSequence):
        return int(sequence.data.shape[0])
    if not isinstance(sequence, torch.Tensor) or sequence.dim() < 2:
        return 0
    if sequence.dim() == 2:
        return int(sequence.shape[0])
    return int(sequence.shape[0] * sequence.shape[1])


class RecurrentFlops:
    """Context manager over a counted forward of ``model``: ``extra`` is what to add to ``counter``'s total."""

    def __init__(self, model: nn.Module, counter: Any) -> None:
        self._model = model
        self._counter = counter
        self._handles: list[Any] = []
        self._before: list[int] = []
        self.extra = 0

    def __enter__(self) -> RecurrentFlops:
        for layer in self._model.modules():
            if isinstance(layer, nn.RNNBase):
                self._handles.append(layer.register_forward_pre_hook(self._start))
                self._handles.append(layer.register_forward_hook(self._finish))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _start(self, layer: nn.Module, inputs: tuple[Any, ...]) -> None:
        self._before.append(self._counter.get_total_flops())

    def _finish(self, layer: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        seen = self._counter.get_total_flops() - self._before.pop()
        expected = recurrent_layer_flops(layer, inputs)
        if seen < expected / 2:
            self.extra += expected - seen
