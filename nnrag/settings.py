"""One settings object for the whole project, read from ``NNRAG_*`` env vars and a TOML file.

Why one place: the server, the CLI, the indexer and the benchmarks must agree on
where the store lives and how the sandbox is sized. Order of precedence: explicit
arguments > environment (``NNRAG_STORE_DIR=...``) > TOML file (``$NNRAG_CONFIG`` or
``./nnrag.toml``) > defaults. The sandbox package does not import this module: it
receives its limits as plain arguments, so it stays importable on its own.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError


# The corpus ``nnrag index`` and ``make demo`` build when given no source: the installed libraries, then archives
# read in place from PyPI (never installed): a collection of paper blocks (attention modules, involution, MobileViT,
# RepVGG, ...), the YOLO blocks (``Conv``, ``C3``, ``SPPF``, ``C2f``), lucidrains' vit-pytorch (the ViT variants'
# ``Transformer``, ``PreNorm``, ``MobileViTBlock``, helpers like ``posemb_sincos_2d`` and ``default``; MIT, needs only
# torch and einops) and segmentation_models_pytorch (MIT: ``Conv2dReLU``, ``SCSEModule``, the U-Net / FPN / PSP /
# DeepLab decoder blocks), which LLM-written models call by name and no installed library defines. Then, for models
# outside image classification (a blind audit found their blocks missing): pytorch-tcn (MIT: ``TCN``),
# pytorch-forecasting (MIT: the TFT's ``GatedResidualNetwork``, ``GateAddNorm``, N-BEATS blocks), lightning-bolts
# (Apache-2.0: the U-Net's ``DoubleConv`` / ``Down`` / ``Up``, DCGAN and SRGAN blocks), denoising-diffusion-pytorch
# (MIT: ``ResnetBlock(dim, dim_out, time_emb_dim=)``, ``SinusoidalPosEmb``) and neuralforecast (Apache-2.0: the TCN's
# ``Chomp1d``, ``CausalConv1d``); and YOLOX's release (Apache: ``BaseConv(in, out, ksize, stride, act="silu")``,
# ``DWConv``, ``Focus``, ``CSPLayer``, ``SPPBottleneck``), which LLM detectors and CSP backbones call as YOLOX writes
# them; and mmpretrain (Apache-2.0), whose blocks mostly stop at import here (mmcv, mmengine) but whose helper
# functions are plain torch / numpy and taken by Patch (MAE's ``get_1d_sincos_pos_embed_from_grid``,
# ``get_2d_sincos_pos_embed``) beside CLIP's ``AttentionPool2d``; and four modules of the installed transformers (Apache-2.0),
# whose blocks LLM-written sequence models call by their Hugging Face names: ``activations`` (``NewGELUActivation``),
# ``pytorch_utils`` (GPT-2's ``Conv1D``), Llama's (``LlamaRMSNorm``, ``LlamaMLP(config)``, ``rotate_half``,
# ``apply_rotary_pos_emb``) and GPT-2's modeling modules; not BERT's, ViT's or T5's, which cost a judged search query
# its place in the top 5; and nano-gpt (MIT), a packaging of Karpathy's nanoGPT whose ``CausalSelfAttention(config)``,
# ``MLP(config)`` and ``Block(config)`` read ``config.n_embd`` / ``n_head`` / ``block_size`` as LLM-written GPTs call
# them; and pytorchcv (MIT, 710 blocks of imgclsmob's classifiers: ``IBN``, ``ResNeXtBottleneck``, BAM's ``BamBlock``,
# SCNet's ``ScConv``, many SE / CBAM / shuffle units), whose blocks LLM-written CIFAR models rebuild; and d2l's
# ``torch.py`` alone (MIT-0, ``#d2l.torch``: the *Dive into Deep Learning* book's ``PositionalEncoding(num_hiddens,
# dropout)``, ``MultiHeadAttention``, ``AddNorm``, ``PositionWiseFFN``, ``Residual``, as tutorial-style models call
# them; not its mxnet / tensorflow / paddle twins); not eight small lucidrains packages (conformer, BoTNet, gMLP, ...;
# a benchmark model of the earlier sets lost its meaning match). Patch prefers an installed library's block where both
# fit (``INSTALLED_SOURCE_BONUS``).
DEFAULT_INDEX_SOURCES: tuple[str, ...] = (
    "pkg:torch.nn",
    "pkg:torchvision",
    "pkg:timm",
    "pypi:fightingcv-attention==1.0.0",
    "pypi:ultralytics==8.4.190",
    "pypi:vit-pytorch==1.26.14",
    "pypi:segmentation-models-pytorch==0.6.0",
    "pypi:pytorch-tcn==1.2.3",
    "pypi:pytorch-forecasting==1.8.0",
    "pypi:lightning-bolts==0.7.0",
    "pypi:denoising-diffusion-pytorch==2.3.4",
    "pypi:neuralforecast==3.3.0",
    "pypi:yolox==0.3.0",
    "pypi:mmpretrain==1.2.0",
    "pkg:transformers.activations",
    "pkg:transformers.pytorch_utils",
    "pkg:transformers.models.llama.modeling_llama",
    "pkg:transformers.models.gpt2.modeling_gpt2",
    "pypi:nano-gpt==0.1.0",
    "pypi:pytorchcv==0.0.74",
    "pypi:d2l==0.17.6#d2l.torch",
)


def default_home() -> Path:
    """``$NNRAG_HOME`` or ``~/.cache/nnrag``: caches, downloaded wheels, the default store."""
    return Path(os.environ.get("NNRAG_HOME") or Path.home() / ".cache" / "nnrag")


DEFAULT_CONFIG_FILE = Path("nnrag.toml")


def _config_file() -> Path:
    """``$NNRAG_CONFIG`` (an empty value counts as unset), else ``./nnrag.toml``."""
    return Path(os.environ.get("NNRAG_CONFIG") or DEFAULT_CONFIG_FILE)


class Settings(BaseSettings):
    # extra="ignore": NNRAG_* variables that are no setting (NNRAG_CONFIG, NNRAG_TARGETS of the Makefile) are not
    # errors; the TOML file's keys are checked by _TomlFile instead. env_ignore_empty: ``NNRAG_STORE_DIR=`` means
    # unset, not Path(".") (a store in the working directory).
    # allow_inf_nan=False: NNRAG_DRAIN_S=inf passed ge=0, then grpc's shutdown thread died on it ("timestamp out of
    # range"); NNRAG_CHECK_TIMEOUT_S=nan was refused as "should be less than or equal to 86400"
    model_config = SettingsConfigDict(env_prefix="NNRAG_", extra="ignore", env_ignore_empty=True, allow_inf_nan=False)

    home: Path = Field(default_factory=default_home, description="Root for caches and the default store.")
    store_dir: Path | None = Field(default=None, description="Block store directory; default <home>/store.")
    address: str = Field(default="127.0.0.1:50051", description="gRPC listen address, host:port (port 0: any free one).")
    token: str | None = Field(default=None, description="Optional bearer token required by the server.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="Sandbox pool size.")
    max_concurrent_rpcs: int = Field(default=64, ge=1, description="In-flight RPCs before RESOURCE_EXHAUSTED.")
    max_audit_streams: int | None = Field(
        default=None, ge=1, description="Open Audit streams before RESOURCE_EXHAUSTED; default a quarter of "
        "max_concurrent_rpcs (at least 1). Must be below max_concurrent_rpcs: each open stream holds a server thread.",
    )
    audit_idle_s: float = Field(default=300.0, gt=0, le=86_400, description="An Audit stream that sends no item for this "
                                "long, every earlier one answered, is ended (DEADLINE_EXCEEDED) to free its "
                                "max_audit_streams place.")
    max_message_mb: int = Field(default=8, ge=1, description="Largest gRPC message accepted, in MiB.")
    # the bounds are what the sandbox can enforce (sandbox.pool.MAX_TIMEOUT_S, MIN_MEMORY_MB, MAX_MEMORY_MB): a default
    # beyond them would make every check the server runs a ValueError
    check_timeout_s: float = Field(default=30.0, ge=0.1, le=86_400, description="Default CPU-time budget for one check, in seconds (its wall clock is capped at 4x; at least 0.1, sandbox.pool.MIN_TIMEOUT_S).")
    check_memory_mb: int = Field(default=4096, ge=64, le=1 << 20, description="Default address-space limit for one check, in MiB.")
    max_pending_checks: int = Field(default=16, ge=1, description="Sandbox checks running or queued before RESOURCE_EXHAUSTED "
                                    "(at most three quarters of max_concurrent_rpcs count).")
    drain_s: float = Field(default=30.0, ge=0, le=86_400, description="On SIGTERM, seconds in-flight calls get to finish.")
    embed_threads: int = Field(default=1, ge=1, description="ONNX Runtime threads for query embeddings in the server.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Server log level (logs are JSON lines on stderr)."
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="Prometheus metrics port; None disables.")
    predictor_dir: Path | None = Field(default=None, description="Trained predictor directory; default <home>/predictor.")
    license_policy: Literal["any", "no-copyleft", "permissive"] = Field(
        default="any", description="Licenses a block's source may carry to be searched, suggested or inserted, when a "
        "request does not say (rag_server.block_filter): any, no-copyleft or permissive.",
    )
    index_sources: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INDEX_SOURCES), description="Source specs indexed when none is given."
    )

    @field_validator("address")
    @classmethod
    def _host_and_port(cls, address: str) -> str:
        """host:port with a port in 0..65535 ("[::1]:50051" for IPv6). Why here: gRPC reports a malformed address
        only when the server binds, as a RuntimeError after the sandbox workers have started."""
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"expected host:port with a port in 0..65535, got {address!r}")
        return address

    @field_validator("max_audit_streams")
    @classmethod
    def _below_rpc_limit(cls, streams: int | None, info: ValidationInfo) -> int | None:
        """Why: every open Audit stream holds one of the server's ``max_concurrent_rpcs`` threads, idle or not; as many
        streams as threads leave none for health checks and searches, which then get RESOURCE_EXHAUSTED."""
        rpcs = info.data.get("max_concurrent_rpcs")
        if streams is not None and rpcs is not None and streams >= rpcs:
            raise ValueError(f"{streams} must be below max_concurrent_rpcs ({rpcs}): each open Audit stream holds a "
                             "server thread, and health checks and searches need one too")
        return streams

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        """Why: pydantic takes a bool as a number, so ``workers = true`` in the TOML file ran one worker and
        ``drain_s = false`` gave in-flight calls no time at all, without a word. No setting is a bool."""
        if isinstance(value, bool):
            raise ValueError(f"expected a {_kind_of(cls.model_fields[info.field_name or ''])}, got {str(value).lower()}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvVars(settings_cls), _TomlFile(settings_cls, toml_file=_config_file()))

    @property
    def store_path(self) -> Path:
        return self.store_dir or self.home / "store"

    @property
    def predictor_path(self) -> Path:
        return self.predictor_dir or self.home / "predictor"

    @property
    def audit_stream_limit(self) -> int:
        return self.max_audit_streams or max(1, self.max_concurrent_rpcs // 4)

    @property
    def pending_check_limit(self) -> int:
        """``max_pending_checks``, capped at three quarters of ``max_concurrent_rpcs``. Why: a check (or a predictor's
        measurement of new code) holds its RPC thread for up to its whole budget; with as many places as threads, six
        Predicts of new code on a server of 6 threads left none for health checks and searches (RESOURCE_EXHAUSTED)."""
        return min(self.max_pending_checks, max(1, self.max_concurrent_rpcs * 3 // 4))

    @property
    def cache_path(self) -> Path:
        return self.home / "cache"


def _kind_of(field: FieldInfo) -> str:
    """A setting's type in words, for an error message."""
    text = str(field.annotation)
    for word, kind in (("int", "whole number"), ("float", "number"), ("list", "list of strings"), ("Path", "path")):
        if word in text:
            return kind
    return "string"


class SettingsError(ValueError):
    """The environment (``NNRAG_*``), the TOML file or an override holds a value the settings refuse."""


class _EnvVars(EnvSettingsSource):
    """``NNRAG_*`` variables, with the variable named when a list setting is not JSON. Why: pydantic-settings says
    only 'error parsing value for field "index_sources"', which names neither the variable nor the problem."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError as exc:
            raise SettingsError(f"invalid settings: {self.env_prefix.upper()}{field_name.upper()}: {value!r} is not "
                                f"JSON ({exc}); a list is written like '[\"pkg:timm\", \"dir:models\"]'") from None


def _path_fields(fields: dict[str, FieldInfo]) -> set[str]:
    """The settings that hold a path (``Path`` or ``Path | None``)."""
    return {name for name, f in fields.items() if f.annotation is Path or Path in get_args(f.annotation)}


class _TomlFile(TomlConfigSettingsSource):
    """The TOML file, read strictly. Why: pydantic-settings ignores a missing file and keys that are no setting, so a
    typo (``store-dir``), a ``[table]`` around the keys or a wrong ``$NNRAG_CONFIG`` left the defaults in force
    without a word. Relative paths in the file are read from the file's folder, not the working directory, so
    the file means the same wherever a command runs."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        if os.environ.get("NNRAG_CONFIG") and not toml_file.expanduser().is_file():
            why = "is not a file" if toml_file.expanduser().exists() else "does not exist"
            raise SettingsError(f"invalid settings: NNRAG_CONFIG={toml_file}: {why}")
        self._fields = settings_cls.model_fields  # the base class reads the file before it keeps settings_cls
        super().__init__(settings_cls, toml_file=toml_file)

    def _read_file(self, file_path: Path) -> dict[str, Any]:  # type: ignore[override]  # pydantic-settings: Path | Traversable
        try:
            raw = file_path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:  # TOML is UTF-8; a Latin-1 comment crashed with a traceback
            raise SettingsError(f"invalid settings: {file_path}: not valid TOML: {_not_utf8(raw, exc)}") from None
        except tomllib.TOMLDecodeError as exc:  # its message ends "(at line 3, column 12)"
            raise SettingsError(f"invalid settings: {file_path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise SettingsError(f"invalid settings: cannot read {file_path}: {exc.strerror or exc}") from None
        self._refuse_unknown_keys(file_path, data)
        folder = file_path.absolute().parent
        paths = _path_fields(self._fields)
        return {key: folder / Path(value).expanduser() if key.lower() in paths and isinstance(value, str) else value
                for key, value in data.items()}

    def _refuse_unknown_keys(self, file_path: Path, data: dict[str, Any]) -> None:
        """An error naming the first key that is no setting, and the closest setting when one is near."""
        known = list(self._fields)
        for key, value in data.items():
            if key.lower() in known:
                continue
            what = f"[{key}] is a table, and settings are top-level keys" if isinstance(value, dict) else f"unknown setting {key!r}"
            close = difflib.get_close_matches(key.lower().replace("-", "_"), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; settings: {', '.join(known)}"
            raise SettingsError(f"invalid settings: {file_path}: {what}{hint}")


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Where a TOML file stops being UTF-8, as tomllib says where its syntax breaks (line and column, from 1)."""
    before = raw[:exc.start].split(b"\n")
    return f"not UTF-8 (byte 0x{raw[exc.start]:02x} at line {len(before)}, column {len(before[-1]) + 1}); save it as UTF-8"


def settings_error(exc: ValidationError, options: dict[str, str] | None = None) -> SettingsError:
    """One line naming each refused value where it came from, in the settings' own order of precedence: the
    command-line option (``options``: field -> the option that set it), else ``NNRAG_<FIELD>`` when it is set, else the
    TOML file."""
    problems = [f"{_source_of(str(e['loc'][0]) if e['loc'] else '', options)}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()]
    return SettingsError("invalid settings: " + "; ".join(problems))


def _source_of(field: str, options: dict[str, str] | None) -> str:
    """Where the value of ``field`` came from (see ``settings_error``). Why: the message named the variable and a
    ``nnrag.toml`` that might not exist side by side, and the user had to guess which one to fix."""
    if options and field in options:
        return options[field]
    variable = next((name for name, value in os.environ.items() if name.upper() == f"NNRAG_{field.upper()}" and value), None)
    if variable:  # read whatever its case (NNRAG_workers), and named as it is spelt
        return variable
    return f"{field} in {_config_file()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment and the TOML file; ``SettingsError`` (one line per problem, the variable or
    file named) when they hold something refused, which the CLI prints without a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    except PydanticSettingsError as exc:  # an NNRAG_* value that could not be decoded (_EnvVars names it)
        if isinstance(exc.__cause__, SettingsError):
            raise exc.__cause__ from None
        raise SettingsError(f"invalid settings: {exc}: {exc.__cause__}") from None
