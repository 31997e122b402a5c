"""indexer.examples: static constructor guesses read from the code, never run."""

import textwrap

from corpus.records import Provenance, SourceFile
from indexer.examples import CallSiteIndex, constructor_candidates
from indexer.records import Block

HEADER = "import torch\nfrom torch import nn\n\n"


def _block(name: str, body: str) -> Block:
    code = HEADER + textwrap.dedent(body)
    prov = Provenance(source="dir:/fixture", package="fixture", version="0", path="fixture/m.py", module="fixture.m")
    return Block(name=name, qualified_name=f"fixture.m.{name}", code=code, provenances=[prov])


def _file(text: str, module: str = "fixture.models") -> SourceFile:
    prov = Provenance(source="dir:/fixture", package="fixture", version="0", path=module.replace(".", "/") + ".py", module=module)
    return SourceFile(module=module, text=textwrap.dedent(text), provenance=prov)


def test_defaults_first_and_required_filled_from_names():
    block = _block("Mixer", """
        class Mixer(nn.Module):
            def __init__(self, in_chs, out_chs, num_classes, kernel_size, stride=2, act_layer=None, norm_layer=None):
                super().__init__()
    """)
    first = constructor_candidates(block, [])[0]
    assert first.inputs is None
    kw = first.init_kwargs
    assert isinstance(kw["in_chs"], int) and isinstance(kw["out_chs"], int) and kw["in_chs"] > 0
    assert kw["num_classes"] == 10 and kw["kernel_size"] == 3
    assert "stride" not in kw and "act_layer" not in kw  # defaults are kept as the source has them


def test_layer_parameters_become_expressions_in_the_block_namespace():
    block = _block("Unit", """
        class Unit(nn.Module):
            def __init__(self, dim, act_layer, norm_layer):
                super().__init__()
    """)
    examples = constructor_candidates(block, [])
    kw = examples[0].init_kwargs
    assert kw["act_layer"] == {"__expr__": "nn.ReLU"}
    assert kw["norm_layer"]["__expr__"].startswith("nn.")
    norms = {e.init_kwargs["norm_layer"]["__expr__"] for e in examples}
    assert {"nn.BatchNorm2d", "nn.LayerNorm"} <= norms  # the other norm family is an alternative


def test_heads_divide_the_width():
    block = _block("Attn", """
        class Attn(nn.Module):
            def __init__(self, dim, num_heads=12):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["dim"] % 12 == 0


def test_block_parameter_takes_a_block_class_from_the_code():
    block = _block("Net", """
        class BasicBlock(nn.Module):
            def __init__(self, inplanes, planes, stride=1):
                super().__init__()

        class Bottleneck(nn.Module):
            def __init__(self, inplanes, planes, stride=1):
                super().__init__()

        class Net(nn.Module):
            def __init__(self, block, layers, num_classes=1000):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["block"] == {"__expr__": "BasicBlock"}
    assert isinstance(kw["layers"], list) and all(isinstance(v, int) for v in kw["layers"])
    assert kw["num_classes"] == 10


def test_call_sites_and_model_configs_in_the_source():
    block = _block("Tower", """
        class Tower(nn.Module):
            def __init__(self, widths, depth, num_classes=1000, mode='fast'):
                super().__init__()
    """)
    files = [_file("""
        from fixture.m import Tower
        def tower_big():
            return Tower(widths=(512, 1024), depth=48, mode=MODE)
        def tower_small(**kwargs):
            model_args = dict(widths=(8, 16), depth=2)
            return build(Tower, **dict(model_args, **kwargs))
        def user(width):
            return Tower(widths=(width, width), depth=3)
    """)]
    examples = constructor_candidates(block, files)
    kwargs = [e.init_kwargs for e in examples]
    # a whole network (num_classes): the smallest config from the source comes first, with 10 classes
    assert kwargs[0]["widths"] == [8, 16] and kwargs[0]["depth"] == 2 and kwargs[0]["num_classes"] == 10
    assert any(k.get("depth") == 48 for k in kwargs)
    # MODE is not defined in the block's code: it is never passed as an expression
    assert all("mode" not in k for k in kwargs)


def test_inherited_init_is_followed_through_bases_in_the_code():
    block = _block("Child", """
        class Base(nn.Module):
            def __init__(self, in_features, hidden_features=None):
                super().__init__()

        class Child(Base):
            pass
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert set(kw) == {"in_features"}


def test_config_dataclass_annotation_builds_the_config():
    block = _block("Model", """
        from dataclasses import dataclass

        @dataclass
        class ModelCfg:
            depth: int = 2
            width: int = 8

        class Model(nn.Module):
            def __init__(self, cfg: ModelCfg, num_classes=1000):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["cfg"] == {"__expr__": "ModelCfg()"}


def test_candidates_are_few_unique_and_deterministic():
    block = _block("Unit", """
        class Unit(nn.Module):
            def __init__(self, dim, norm_layer, act_layer, heads=4):
                super().__init__()
    """)
    files = [_file("x = Unit(64, nn.LayerNorm, nn.GELU)\ny = Unit(dim=16, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU)\n")]
    a = [e.to_dict() for e in constructor_candidates(block, files)]
    b = [e.to_dict() for e in constructor_candidates(block, files, index=CallSiteIndex.build(files))]
    assert a == b
    assert 1 <= len(a) <= 6
    assert len({repr(x) for x in a}) == len(a)


def test_unparsable_code_still_gives_one_example():
    block = _block("Broken", "class Broken(nn.Module:\n    pass\n")
    examples = constructor_candidates(block, [])
    assert len(examples) == 1 and examples[0].inputs is None


def test_either_or_parameters_get_an_alternative():
    block = _block("Upsample", """
        class Upsample(nn.Module):
            def __init__(self, size=None, scale_factor=None, mode='nearest'):
                super().__init__()
    """)
    kwargs = [e.init_kwargs for e in constructor_candidates(block, [])]
    assert kwargs[0] == {}  # defaults first
    assert any(k.get("size") or k.get("scale_factor") for k in kwargs[1:])


def test_networks_try_a_shrunk_config_first():
    block = _block("Vit", """
        class Vit(nn.Module):
            def __init__(self, img_size=224, depth=12, depths=(2, 2, 6, 2), num_classes=1000, aux_logits=True):
                super().__init__()
    """)
    examples = constructor_candidates(block, [])
    first = examples[0].init_kwargs
    assert first["depth"] <= 2 and first["depths"] == [1, 1, 1, 1] and first["img_size"] < 224
    assert first["num_classes"] == 10 and first["aux_logits"] is False
    assert any("depth" not in e.init_kwargs for e in examples)  # the defaults are still tried


def test_indexed_parameters_get_sequences():
    block = _block("Stage", """
        class Stage(nn.Module):
            def __init__(self, dim, depth, drop_path):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Identity() for i in range(depth) if drop_path[i] >= 0])
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert isinstance(kw["drop_path"], list) and isinstance(kw["depth"], int)


def test_call_site_arguments_are_read_through_constants_and_config_tables():
    block = _block("Ghost", """
        from dataclasses import dataclass

        @dataclass
        class StageCfg:
            depths: tuple
            width: int = 16

        class Ghost(nn.Module):
            def __init__(self, cfgs, stage_cfg: StageCfg, num_classes=1000, width=1.0):
                super().__init__()
    """)
    files = [_file("""
        tables = {'big': [[3, 960, 160]], 'small': [[3, 16, 16]]}

        def _create(variant, width=1.0, **kwargs):
            cfgs = [[3, 16, 16, 0, 1], [5, 72, 40, 0.25, 2]]
            model_kwargs = dict(cfgs=cfgs, width=width, **kwargs)
            return build(Ghost, variant, **model_kwargs)

        def _other(variant, **kwargs):
            return Ghost(cfgs=tables[variant])
    """)]
    examples = constructor_candidates(block, files)
    cfgs = [e.init_kwargs.get("cfgs") for e in examples]
    assert [[3, 16, 16, 0, 1], [5, 72, 40, 0.25, 2]] in cfgs  # the builder's local constant
    assert [[3, 16, 16]] in cfgs  # the smallest entry of a config table indexed by a variable
    # a dataclass annotation is built from its fields, required ones guessed
    assert all(e.init_kwargs["stage_cfg"]["__expr__"].startswith("StageCfg(depths=") for e in examples)


def test_scalar_defaults_the_body_indexes_become_lists():
    block = _block("Stage", """
        class Stage(nn.Module):
            def __init__(self, dim, depth, drop_path=0.0):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Dropout(drop_path[i]) for i in range(depth)])
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert isinstance(kw["drop_path"], list) and len(kw["drop_path"]) >= kw["depth"]


def test_layer_factories_called_without_a_none_check_are_supplied():
    """``norm_layer=None`` called unconditionally, and ``block_kwargs.get('act_layer')`` read
    from ``**kwargs`` that the source's builders always fill: both get a layer guess; a
    parameter the body checks for None keeps its default."""
    block = _block("Stage", """
        class Stage(nn.Module):
            def __init__(self, chs, norm_layer=None, pool_layer=None, **block_kwargs):
                super().__init__()
                self.norm = norm_layer(chs)
                self.pool = pool_layer() if pool_layer is not None else nn.Identity()
                self.act = block_kwargs.get('act_layer')()
                self.depth = block_kwargs.get('depth', 2)
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["norm_layer"]["__expr__"].startswith("nn.")
    assert kw["act_layer"] == {"__expr__": "nn.ReLU"}
    assert "pool_layer" not in kw and "depth" not in kw


def test_fixed_arity_tuples_of_one_config_agree_in_length():
    block = _block("Net", """
        @dataclass
        class NetCfg:
            depths: Tuple[int, int, int, int]
            channels: Tuple[int, int, int, int]

        class Net(nn.Module):
            def __init__(self, cfg: NetCfg, num_classes=1000):
                super().__init__()
    """)
    expr = constructor_candidates(block, [])[0].init_kwargs["cfg"]["__expr__"]
    cfg = eval(expr.replace("NetCfg", "dict"))  # noqa: S307 - a literal the test wrote
    assert len(cfg["depths"]) == len(cfg["channels"]) == 4 and all(d >= 1 for d in cfg["depths"])


def test_builder_constants_inside_call_site_expressions_are_inlined():
    block = _block("Net", """
        def decode(arch):
            return [[a] for a in arch]

        class Net(nn.Module):
            def __init__(self, block_args, stem_size=16, num_classes=1000):
                super().__init__()
    """)
    src = _file(textwrap.dedent("""
        def _gen_net(variant, depth_multiplier=1.0, **kwargs):
            arch_def = ['ir_r1_k3_s1_e1_c16', 'ir_r2_k3_s2_e6_c24']
            model_kwargs = dict(block_args=decode(arch_def), stem_size=32, **kwargs)
            return Net(**model_kwargs)
    """))
    values = [e.init_kwargs.get("block_args") for e in constructor_candidates(block, [src])]
    assert {"__expr__": "decode(['ir_r1_k3_s1_e1_c16', 'ir_r2_k3_s2_e6_c24'])"} in values


def test_factories_reach_the_class_through_builders_and_registry_tables():
    models = _file("""
        from torch import nn

        class Block(nn.Module):
            def __init__(self, dim, depth):
                super().__init__()

        _registry = dict(plain=Block)

        class Net(nn.Module):
            def __init__(self, cfg, num_classes=1000):
                super().__init__()
                self.block = _registry[cfg['kind']](cfg['dim'], cfg['depth'])

        def _create(variant, **kwargs):
            return Net(CFGS[variant], **kwargs)

        def _helper(pretrained=False):
            return _create('x')

        def net_large(pretrained=False, **kwargs):
            return _create('large', **kwargs)

        def net_tiny(pretrained=False, **kwargs):
            return _create('tiny', **kwargs)

        def unrelated():
            return 1
    """, module="fixture.models.net")
    other = _file("""
        from .net import Net

        def other_small():
            return Net({'kind': 'plain', 'dim': 8, 'depth': 1})
    """, module="fixture.models.other")
    stranger = _file("""
        def Block():
            return None

        def uses_a_different_block():
            return Block()
    """, module="fixture.models.stranger")
    index = CallSiteIndex.build([models, other, stranger])
    found = index.factories("fixture.models.net", "Block")
    # zero-argument public functions only, nearest first, small names before large ones
    assert found == ["fixture.models.other:other_small", "fixture.models.net:net_tiny", "fixture.models.net:net_large"]
    assert not any("_helper" in f or "unrelated" in f or "stranger" in f for f in found)
    assert index.factories("fixture.models.net", "Net")[0] == "fixture.models.other:other_small"


def test_layer_name_maps_pick_children_of_the_model_guess():
    block = _block("WithFeatures", """
        from typing import Dict, List

        class WithFeatures(nn.Module):
            def __init__(self, backbone: nn.Module, return_layers: Dict[str, str], in_channels_list: List[int], out_channels: int):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    model = eval(kw["backbone"]["__expr__"], {"nn": __import__("torch").nn})  # our own guess: trusted
    children = dict(model.named_children())
    assert kw["return_layers"] and set(kw["return_layers"]) <= set(children)
    assert len(kw["in_channels_list"]) == len(kw["return_layers"])  # one width per returned layer
    widths = [children[name].out_channels for name in kw["return_layers"] if hasattr(children[name], "out_channels")]
    assert all(w == kw["in_channels_list"][0] for w in widths)
    plain = _block("Renamer", """
        from typing import Dict

        class Renamer(nn.Module):
            def __init__(self, mapping: Dict[str, str]):
                super().__init__()
    """)
    assert constructor_candidates(plain, [])[0].init_kwargs["mapping"] != {"0": "0", "1": "1"}  # no model to name into


def test_module_factories_missing_from_the_block_become_identity_and_class_lists_follow_indexing():
    block = _block("Tower", """
        from typing import Callable, Sequence, Type

        class Conv(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, padding=1)

            def forward(self, x):
                return self.conv(x)

        class Tower(nn.Module):
            def __init__(self, makers: Sequence[Type[Conv]], stem: Callable[..., nn.Module], num_classes: int = 5):
                super().__init__()
                self.stem = stem()
                self.body = nn.Sequential(makers[0](8, 8), makers[1](8, 8), makers[2](8, 8))
                self.head = nn.Linear(8, num_classes)

            def forward(self, x):
                return self.head(self.body(self.stem(x)).mean((2, 3)))
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["makers"] == {"__expr__": "[Conv] * 3"}
    assert kw["stem"] == {"__expr__": "nn.Identity"}
    namespace: dict = {}
    exec(compile(block.code, "fixture.py", "exec"), namespace)  # our own fixture code: trusted
    args = {k: eval(v["__expr__"], namespace) if isinstance(v, dict) else v for k, v in kw.items()}
    model = namespace["Tower"](**args)
    assert model(__import__("torch").randn(2, 8, 8, 8)).shape == (2, 10)
    hollow = _block("Stage", """
        from typing import Callable

        class Stage(nn.Module):
            def __init__(self, width: int, block_constructor: Callable[..., nn.Module]):
                super().__init__()
                self.blocks = nn.Sequential(block_constructor(width, width), block_constructor(width, width))
    """)
    guessed = constructor_candidates(hollow, [])[0].init_kwargs.get("block_constructor")
    assert guessed != {"__expr__": "nn.Identity"}  # the building block itself is never replaced by a no-op


def test_a_scalar_annotation_overrules_a_layer_sounding_name():
    block = _block("Pool", """
        class Pool(nn.Module):
            def __init__(self, norm_type: float, pool_type: float, kernel_size, norm_layer):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert isinstance(kw["norm_type"], float) and kw["norm_type"] > 0  # a power, not nn.BatchNorm2d
    assert isinstance(kw["pool_type"], float)  # "pool" + "type" would read as nn.MaxPool2d without the annotation
    assert kw["norm_layer"] == {"__expr__": "nn.BatchNorm2d"}  # unannotated: the name still decides


def test_a_sequence_of_callables_gets_a_pass_through_pipeline():
    block = _block("Pipeline", """
        from typing import Callable, Sequence

        class Pipeline(nn.Module):
            def __init__(self, transforms: Sequence[Callable]):
                super().__init__()
                if not all(callable(t) for t in transforms):
                    raise TypeError("transforms should be a sequence of callables")
                self.transforms = transforms

            def forward(self, x):
                for t in self.transforms:
                    x = t(x)
                return x
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    namespace: dict = {}
    exec(compile(block.code, "fixture.py", "exec"), namespace)  # our own fixture code: trusted
    transforms = eval(kw["transforms"]["__expr__"], namespace)
    x = __import__("torch").randn(2, 3)
    assert namespace["Pipeline"](transforms)(x).equal(x)


def test_module_scope_reads_imports_nested_in_statements_but_not_local_assignments():
    import ast

    from indexer.examples import _module_scope

    tree = ast.parse(textwrap.dedent("""
        import torch.nn as nn
        try:
            from apex import FusedNorm
        except ImportError:
            FusedNorm = None
        finally:
            import math
        CONST = 3
        def helper(x):
            for _ in range(2):
                with open(x) as fh:
                    from torch.nn import functional as F
            local_only = 1
            return F
        class Block(nn.Module):
            def forward(self, x):
                import einops
                return x
    """))
    scope = _module_scope(tree)
    assert {"nn", "FusedNorm", "math", "CONST", "helper", "Block", "F", "einops"} <= scope
    assert "local_only" not in scope and "forward" not in scope


def test_a_config_read_only_through_attributes_becomes_an_attribute_bag():
    block = _block("Mixer", """
        class Inner(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.proj = nn.Linear(cfg.dim, cfg.dim * cfg.mlp.ratio)
                self.heads = cfg.n_heads

        class Mixer(nn.Module):
            def __init__(self, cfg, scale=1.0):
                super().__init__()
                self.inner = Inner(cfg=cfg)
                self.drop = nn.Dropout(getattr(cfg, "attn_drop"))
                self.use = getattr(cfg, "optional_flag", False)
                self.depths = [nn.Identity() for _ in range(cfg.depths[0])]
    """)
    namespace: dict = {}
    for example in constructor_candidates(block, []):
        bag = eval(example.init_kwargs["cfg"]["__expr__"], namespace)  # an expression of our own guesser: trusted
        assert bag.dim % bag.n_heads == 0 and bag.attn_drop == 0.0 and bag.mlp.ratio > 0
        assert isinstance(bag.depths, list) and not hasattr(bag, "optional_flag")


def test_a_parameter_used_other_than_through_attributes_is_no_attribute_bag():
    for use in ("self.a = cfg[0]", "self.a = cfg.get('dim')", "self.a = helper(cfg)", "cfg = cfg.dim"):
        block = _block("Odd", f"""
            class Odd(nn.Module):
                def __init__(self, cfg):
                    super().__init__()
                    self.b = cfg.width
                    {use}
        """)
        value = constructor_candidates(block, [])[0].init_kwargs["cfg"]
        assert "SimpleNamespace" not in str(value), use


def test_pretrained_weights_are_off_in_every_candidate():
    block = _block("Wrapper", """
        class Wrapper(nn.Module):
            def __init__(self, backbone_name, pretrained=True, weights="DEFAULT", checkpoint_path="w.pth", num_classes=1000):
                super().__init__()
    """)
    calls = _file("""
        from fixture.m import Wrapper
        m = Wrapper("resnet18", pretrained=True, weights="IMAGENET1K_V2")
    """)
    candidates = constructor_candidates(block, [calls])
    assert len(candidates) > 1
    for example in candidates:
        kw = example.init_kwargs
        assert kw["pretrained"] is False and kw["weights"] is None and kw["checkpoint_path"] is None


def test_weights_that_are_not_pretrained_weights_stay_as_they_are():
    block = _block("WeightedLoss", """
        class WeightedLoss(nn.Module):
            def __init__(self, weights, load_pretrained=False, smoothing=None):
                super().__init__()
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert kw["weights"] is not None and kw["load_pretrained"] is False


def test_the_lemur_contract_is_read_from_the_signature():
    from indexer.examples import lemur_contract

    lemur = _block("Net", "class Net(nn.Module):\n    def __init__(self, in_shape, out_shape, prm, device):\n        super().__init__()\n")
    inherited = _block("Net", "class Base(nn.Module):\n    def __init__(self, in_shape, out_shape, prm, device):\n        pass\n\n"
                              "class Net(Base):\n    pass\n")
    other = _block("Net", "class Net(nn.Module):\n    def __init__(self, in_shape, num_classes):\n        super().__init__()\n")
    assert lemur_contract(lemur) and lemur_contract(inherited) and not lemur_contract(other)


def test_an_alias_of_a_class_gets_that_class_s_arguments():
    """timm's ``ConvBnAct = ConvNormAct`` (and EffectiveSqueezeExcite, SeparableConvBnAct): the alias had no class of
    its name, so it was built with no arguments, failed at instantiate, and min_stage filters hid the canonical names."""
    block = _block("ConvBnAct", """
        class ConvNormAct(nn.Module):
            def __init__(self, in_channels, out_channels, kernel_size=1):
                super().__init__()


        ConvBnAct = ConvNormAct  # alias
    """)
    kw = constructor_candidates(block, [])[0].init_kwargs
    assert isinstance(kw["in_channels"], int) and isinstance(kw["out_channels"], int)
