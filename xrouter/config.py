"""Hydra/OmegaConf glue shared by every entry point: resolvers and config helpers."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
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


# Dependency messages a user cannot act on: Lightning's sales tip, its notice that the run's own output
# dir (where config.yaml already is) holds files, a torch-internal deprecation inside Lightning, the
# eval-mode notice (the frozen KL reference copy of the router is in eval mode by design), and the
# non-resumable-dataloader notice (our sampler draws prompts afresh, by design).
IGNORED_WARNINGS = (
    r".*LeafSpec.* is deprecated",
    r"Found \d+ module\(s\) in eval mode",
    r"Experiment logs directory .* exists and is not empty",
    r"You're resuming from a checkpoint that ended before the epoch ended",
)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\U0001f4a1 Tip")


def quiet_logs() -> None:
    """Each log line once, no dependency banners: called by every entry point before it builds anything.

    Lightning prints through its own console handler *and* Hydra's root handler (every INFO line
    twice): its handler goes, Hydra's stays.  transformers' weight loading/saving progress bars and
    the warnings in ``IGNORED_WARNINGS`` are dropped; warnings a user can act on stay.
    """
    import warnings

    quiet_http_loggers()
    if logging.getLogger().handlers:  # Hydra's root handler prints Lightning's records already
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    for pattern in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    # model answers parsed as Python (code verifiers, MBPP aliasing) warn about their own bad literals
    warnings.filterwarnings("ignore", category=SyntaxWarning, module="<unknown>")
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass


def resolve_data_dir(configured: str | os.PathLike | None = None) -> Path:
    """``$XROUTER_DATA_DIR`` if set, else the configured directory, else ``<project>/data``."""
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    return PROJECT_ROOT / "data"


class ConfigValueError(ValueError):
    """A config value of the wrong type or out of range (the message names the key and what it may be)."""


def require(cfg: Any, key: str, kind: type, ok: Any = None, allowed: str = "") -> Any:
    """``cfg``'s value at dotted ``key`` if it is a ``kind`` (float accepts integers) and ``ok(value)``
    holds; otherwise ``ConfigValueError('<key>=<value>: must be <allowed>')``."""
    value = OmegaConf.select(cfg, key) if OmegaConf.is_config(cfg) else None
    typed = value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        typed = float(value)
    if (
        isinstance(value, bool)
        and kind is not bool
        or not isinstance(typed, kind)
        or (ok is not None and not ok(typed))
    ):
        raise ConfigValueError(f"{key}={value!r}: must be {allowed or kind.__name__}")
    return typed


def data_dir_of(cfg: DictConfig) -> Path:
    """The data directory of a composed config (``paths.data_dir``, overridden by ``$XROUTER_DATA_DIR``)."""
    return resolve_data_dir(cfg.paths.data_dir)


def output_dir_of(cfg: DictConfig) -> Path:
    """A run's output directory: ``output_dir`` when set, else the one Hydra made for this job."""
    if cfg.get("output_dir"):
        return Path(cfg.output_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def one_line_errors(main: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An entry point's expected failures (a bad config value, a malformed data file, a missing file or
    extra) as one line naming the problem, exit status 2; ``HYDRA_FULL_ERROR=1`` keeps the traceback."""

    @functools.wraps(main)
    def wrapper(cfg: Any) -> Any:
        try:
            return main(cfg)
        except (ValueError, FileNotFoundError, ImportError) as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {error}\n(set HYDRA_FULL_ERROR=1 for the traceback)", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
