"""sandbox.trace_init: recorded constructor arguments rendered over the block's own names.

In-process on trusted torch objects only (the factories themselves run in the sandbox;
tests/test_validate.py covers that end to end)."""

import dataclasses
import functools

import pytest
import torch
from torch import nn

from sandbox.trace_init import Unrenderable, _constructions, _Renderer, _shrunk, traced_examples
from sandbox.spec import Example


@dataclasses.dataclass
class StageCfg:
    depth: int = 2
    width: int = 32


class PackageOnly(nn.Module):
    pass


PACKAGE = __name__.split(".")[0]  # this test module plays the traced package


def _renderer(constructions=None, **namespace):
    return _Renderer({"nn": nn, "torch": torch, **namespace}, package=PACKAGE, constructions=constructions or {})


def test_json_values_stay_json_and_tuples_stay_tuples():
    r = _renderer()
    assert r.value([1, 2.5, "a", None, {"k": True}]) == [1, 2.5, "a", None, {"k": True}]
    assert r.value((7, 7)) == {"__expr__": "(7, 7)"}
    assert eval(r.value(torch.Size([3]))["__expr__"]) == (3,)


def test_layers_partials_and_dtypes_use_the_blocks_aliases():
    r = _renderer()
    norm = r.value(functools.partial(nn.BatchNorm2d, eps=1e-3))["__expr__"]
    assert norm == "__import__('functools').partial(nn.BatchNorm2d, eps=0.001)"
    assert r.value(nn.GELU) == {"__expr__": "nn.GELU"}
    assert r.value(torch.float16) == {"__expr__": "__import__('torch').float16"}
    layer = eval(norm, {"nn": nn})(8)
    assert isinstance(layer, nn.BatchNorm2d) and layer.eps == 1e-3


def test_config_dataclasses_render_only_fields_that_differ_from_defaults():
    r = _renderer(StageCfg=StageCfg)
    assert r.value(StageCfg(depth=4)) == {"__expr__": "StageCfg(depth=4)"}


def test_package_classes_missing_from_the_block_are_not_invented():
    with pytest.raises(Unrenderable):
        _renderer().value(PackageOnly)
    assert _renderer(PackageOnly=PackageOnly).value(PackageOnly) == {"__expr__": "PackageOnly"}


def test_filled_containers_render_what_they_hold():
    seen = {}
    with _constructions(seen):  # records how each module was built, as during a factory run
        heads = nn.ModuleList()
        heads.append(nn.Conv2d(4, 8, 3, padding=1))
    r = _renderer(seen)
    expr = r.value(heads)["__expr__"]
    rebuilt = eval(expr, {"nn": nn})
    assert expr.startswith("nn.ModuleList([nn.Conv2d(") and len(rebuilt) == 1
    assert rebuilt[0].weight.shape == heads[0].weight.shape and rebuilt[0].padding == (1, 1)


def test_shrunk_variant_has_one_block_per_stage():
    small = _shrunk(Example(init_kwargs={"depths": [2, 2, 6, 2], "layers": {"__expr__": "(3, 4)"}, "dim": 96}))
    assert small.init_kwargs == {"depths": [1, 1, 1, 1], "layers": {"__expr__": "(1, 1)"}, "dim": 96}
    assert _shrunk(Example(init_kwargs={"dim": 96})) is None


def test_torch_layers_never_render_as_a_block_class_that_only_shares_their_name():
    class GELU(nn.Module):  # a block's own GELU (timm's takes ``inplace``, not ``approximate``)
        def __init__(self, inplace: bool = False):
            super().__init__()

    GELU.__qualname__ = "GELU"
    r = _renderer(GELU=GELU)
    assert r.value(nn.GELU) == {"__expr__": "nn.GELU"}
    expr = r.value(functools.partial(nn.GELU, approximate="tanh"))["__expr__"]
    assert "nn.GELU" in expr
    assert eval(expr, {"nn": nn, "GELU": GELU})().approximate == "tanh"
    assert r.value(GELU) == {"__expr__": "GELU"}  # the block's own class still renders by its name


def test_shrunk_keeps_the_first_block_of_each_stage_in_per_block_configs():
    stages = [[{"out_chs": 16, "stride": 2}, {"out_chs": 16, "stride": 1}], [{"out_chs": 32, "stride": 2}] * 3]
    small = _shrunk(Example(init_kwargs={"block_args": stages, "stem_size": 8}))
    assert small.init_kwargs == {"block_args": [[{"out_chs": 16, "stride": 2}], [{"out_chs": 32, "stride": 2}]], "stem_size": 8}
    assert _shrunk(Example(init_kwargs={"block_args": [[{"out_chs": 16}], [{"out_chs": 32}]]})) is None


class Projection(nn.Module):  # a layer of the package that the checked block does not define
    def __init__(self, in_chs, out_chs):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, 1)


class Unit(nn.Module):
    def __init__(self, in_chs, out_chs, proj_layer=None):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, 3, padding=1)
        self.proj = proj_layer(in_chs, out_chs) if proj_layer is not None else None


def build_stage():
    """A factory whose first Unit gets a projection the block lacks; the next ones need none."""
    return nn.Sequential(Unit(4, 8, proj_layer=Projection), Unit(8, 8), Unit(8, 8))


def test_trace_prefers_a_later_instance_whose_arguments_all_render():
    namespace = {"nn": nn, "torch": torch, "Unit": Unit}
    examples = traced_examples(__name__, "Unit", [f"{__name__}:build_stage"], namespace, budget_s=5.0)
    assert examples, "the factory's constructions were not recorded"
    assert examples[0].init_kwargs == {"in_chs": 8, "out_chs": 8}  # no projection: builds from the block alone
    assert {"in_chs": 4, "out_chs": 8} in [e.init_kwargs for e in examples]  # the first record stays, after
    assert Unit.__init__ is Unit.__dict__["__init__"] and "hooked" not in Unit.__init__.__qualname__
