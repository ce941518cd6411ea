"""Hydra/OmegaConf glue shared by every entry point: resolvers and config helpers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter import PROJECT_ROOT

DATA_DIR_ENV = "XROUTER_DATA_DIR"

if not OmegaConf.has_resolver("xrouter_root"):
    OmegaConf.register_new_resolver("xrouter_root", lambda: str(PROJECT_ROOT))


def to_plain(cfg: Any) -> Any:
    """A resolved plain-Python copy of a config node (dicts, lists, scalars)."""
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def quiet_http_loggers() -> None:
    """httpx/openai log every request at INFO; keep run logs readable (and free of URLs with keys)."""
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)


def resolve_data_dir(configured: str | os.PathLike | None = None) -> Path:
    """``$XROUTER_DATA_DIR`` if set, else the configured directory, else ``<project>/data``."""
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    return PROJECT_ROOT / "data"


def data_dir_of(cfg: DictConfig) -> Path:
    """The data directory of a composed config (``paths.data_dir``, overridden by ``$XROUTER_DATA_DIR``)."""
    return resolve_data_dir(cfg.paths.data_dir)
