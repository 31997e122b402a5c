"""The layers a block's name states, and whether a stored block under another name has them (``ast``, never executed).

Why: a block found under another name (an alias, by meaning) passed the check while doing something else. An LLM's
``ConvBNSiLU`` got timm's nextvit ``ConvNormAct`` (ReLU), a ``SpectralNormConv`` a conv + BatchNorm, a ``ResBlockUp``
fightingcv's ``RepBlock``, which never upsamples: the generator's images came out 4x4 where its calls meant 16x16. The
name says what the layer must contain; a candidate lacking it ranks lower, and the one inserted says so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nnrag import pyparse


@dataclass(frozen=True)
class StatedLayer:
    """A layer a name states: ``label`` in words, the texts that show a block has it (lower case), and the
    ``torch.nn`` class an activation parameter of the block can default to instead (``""`` when none)."""

    label: str
    evidence: tuple[str, ...]
    layer: str = ""
    whole_closure: bool = False  # looked for in every definition inserted, not only the class (``self.up = Up(...)``)


SILU = StatedLayer("SiLU", ("silu", "swish"), "nn.SiLU")
GELU = StatedLayer("GELU", ("gelu",), "nn.GELU")
MISH = StatedLayer("Mish", ("mish",), "nn.Mish")
RELU = StatedLayer("ReLU", ("relu",), "nn.ReLU")
BATCH_NORM = StatedLayer("batch norm", ("batchnorm", "batch_norm", "syncbn"))
LAYER_NORM = StatedLayer("layer norm", ("layernorm", "layer_norm"))
GROUP_NORM = StatedLayer("group norm", ("groupnorm", "group_norm"))
SPECTRAL_NORM = StatedLayer("spectral norm", ("spectral_norm", "spectralnorm"))
UPSAMPLING = StatedLayer("upsampling", ("upsample", "interpolate", "convtranspose", "conv_transpose", "pixelshuffle",
                                        "pixel_shuffle", "scale_factor"), whole_closure=True)

# Texts of a lower-cased name that state a layer wherever they stand (``ConvBNSiLU``, ``conv_bn_gelu``, ``ConvReLU``:
# the camel split reads ``Re``, ``LU``)
_STATED_BY_TEXT = (("silu", SILU), ("swish", SILU), ("gelu", GELU), ("mish", MISH), ("batchnorm", BATCH_NORM),
                   ("layernorm", LAYER_NORM), ("groupnorm", GROUP_NORM), ("spectral", SPECTRAL_NORM),
                   ("upsampl", UPSAMPLING), ("deconv", UPSAMPLING), ("relu", RELU))
# Words of a name that state one (``ConvBnRelu``, ``ResBlockUp``, ``UpBlock``): too short to look for inside words
_STATED_BY_WORD = {"bn": BATCH_NORM, "ln": LAYER_NORM, "gn": GROUP_NORM, "sn": SPECTRAL_NORM, "up": UPSAMPLING}
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|\d+")


def split_words(name: str) -> str:
    """The words of a class or function name, space-separated as written: ``ConvBnRelu`` -> "Conv Bn Relu";
    ``res_block_up`` -> "res block up"; ``ConvBNSiLU`` -> "Conv BN Si LU"."""
    return " ".join(_WORD.findall(name.replace("_", " ")))


def name_words(name: str) -> list[str]:
    """The lower-cased words of a class or function name (``split_words``): ``ConvBnRelu`` -> conv, bn, relu."""
    return split_words(name).lower().split()


def stated_layers(name: str) -> list[StatedLayer]:
    """The layers ``name`` states, each once: ``ConvBNSiLU`` -> batch norm, SiLU; ``ResBlockUp`` -> upsampling
    (``LeakyReLU`` and ``PReLU`` state a ReLU: their code says ``relu``)."""
    flat = name.lower().replace("_", "")
    found = [layer for text, layer in _STATED_BY_TEXT if text in flat]
    found += [_STATED_BY_WORD[w] for w in name_words(name) if w in _STATED_BY_WORD]
    return list(dict.fromkeys(found))


def _class_source(code: str, symbol: str) -> str:
    """The source of the class or function ``symbol`` defines at the top level of ``code`` ("" when it does not)."""
    try:
        tree = pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return ""
    node = next((n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == symbol), None)
    return ast.get_source_segment(code, node) or "" if node is not None else ""


def lacking_layers(name: str, code: str, symbol: str, defaults: dict[str, str] | None = None) -> list[StatedLayer]:
    """The layers ``name`` states that ``symbol``, as ``code`` defines it, shows no sign of: an activation or norm
    looked for in the class itself and the defaults set in it (a helper beside it may be another block's), upsampling
    in every definition inserted (a block may upsample through a helper class)."""
    wanted = stated_layers(name)
    if not wanted:
        return []
    own = (_class_source(code, symbol) + " " + " ".join((defaults or {}).values())).lower()
    whole = code.lower()
    return [layer for layer in wanted if not any(e in (whole if layer.whole_closure else own) for e in layer.evidence)]
