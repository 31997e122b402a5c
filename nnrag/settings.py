"""One settings object for the whole project, read from ``NNRAG_*`` env vars and a TOML file.

Why one place: the server, the CLI, the indexer and the benchmarks must agree on
where the store lives and how the sandbox is sized. Order of precedence: explicit
arguments > environment (``NNRAG_STORE_DIR=...``) > TOML file (``$NNRAG_CONFIG`` or
``./nnrag.toml``) > defaults. The sandbox package does not import this module: it
receives its limits as plain arguments, so it stays importable on its own.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


# The corpus ``nnrag index`` and ``make demo`` build when given no source: the installed libraries, then two archives
# read in place from PyPI (never installed): a collection of paper blocks (attention modules, involution, MobileViT,
# RepVGG, ...) and the YOLO blocks (``Conv``, ``C3``, ``SPPF``, ``C2f``), which LLM-written models call by name and
# no installed library defines. Patch prefers an installed library's block where both fit (``INSTALLED_SOURCE_BONUS``).
DEFAULT_INDEX_SOURCES: tuple[str, ...] = (
    "pkg:torch.nn",
    "pkg:torchvision",
    "pkg:timm",
    "pypi:fightingcv-attention==1.0.0",
    "pypi:ultralytics==8.4.190",
)


def default_home() -> Path:
    """``$NNRAG_HOME`` or ``~/.cache/nnrag``: caches, downloaded wheels, the default store."""
    return Path(os.environ.get("NNRAG_HOME") or Path.home() / ".cache" / "nnrag")


def _config_file() -> Path:
    return Path(os.environ.get("NNRAG_CONFIG", "nnrag.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NNRAG_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Root for caches and the default store.")
    store_dir: Path | None = Field(default=None, description="Block store directory; default <home>/store.")
    address: str = Field(default="127.0.0.1:50051", description="gRPC listen address.")
    token: str | None = Field(default=None, description="Optional bearer token required by the server.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, description="Sandbox pool size.")
    max_concurrent_rpcs: int = Field(default=64, description="In-flight RPCs before RESOURCE_EXHAUSTED.")
    max_message_mb: int = Field(default=8, description="Largest gRPC message accepted, in MiB.")
    check_timeout_s: float = Field(default=30.0, description="Default wall-clock budget for one check.")
    check_memory_mb: int = Field(default=4096, description="Default address-space limit for one check.")
    max_pending_checks: int = Field(default=16, description="Sandbox checks running or queued before RESOURCE_EXHAUSTED.")
    drain_s: float = Field(default=30.0, description="On SIGTERM, seconds in-flight calls get to finish.")
    embed_threads: int = Field(default=1, description="ONNX Runtime threads for query embeddings in the server.")
    log_level: str = Field(default="INFO", description="Server log level (logs are JSON lines on stderr).")
    metrics_port: int | None = Field(default=None, description="Prometheus metrics port; None disables.")
    predictor_dir: Path | None = Field(default=None, description="Trained predictor directory; default <home>/predictor.")
    license_policy: Literal["any", "no-copyleft", "permissive"] = Field(
        default="any", description="Licenses a block's source may carry to be searched, suggested or inserted, when a "
        "request does not say (rag_server.block_filter): any, no-copyleft or permissive.",
    )
    index_sources: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INDEX_SOURCES), description="Source specs indexed when none is given."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_config_file()))

    @property
    def store_path(self) -> Path:
        return self.store_dir or self.home / "store"

    @property
    def predictor_path(self) -> Path:
        return self.predictor_dir or self.home / "predictor"

    @property
    def cache_path(self) -> Path:
        return self.home / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
