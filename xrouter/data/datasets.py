"""Routing datasets by name: resolve their files in the data dir, convert, cache, select a split.

A dataset config (``conf/dataset/<name>.yaml``) names a converter, the files it reads (each with
its upstream and checksum) and converter options.  A config with ``tasks`` and ``task_root``
(ZeroEval) keeps only the files of those tasks (keys ``<task>/<file>``); a task it does not list is
read from every ``<task_root>/<task>/*.json`` in the data dir, with a warning that those files are
unverified.  ``converter: traces`` reads a user's own file
in the canonical format (``dataset=traces dataset.path=<file>``), so recorded data needs no code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from xrouter import CONF_DIR, PROJECT_ROOT
from xrouter.config import to_plain
from xrouter.data.store import DataNotFoundError, FileSpec, ensure_file, sha256_of
from xrouter.data.traces import complete_prompts, load_traces, validate_traces

log = logging.getLogger(__name__)

# converter name -> "module:function"; each function takes (files: dict[str, Path], **options)
CONVERTERS = {
    "routerbench": "xrouter.data.converters.routerbench:convert",
    "routellm_gsm8k": "xrouter.data.converters.routellm:convert_gsm8k",
    "routellm_mmlu": "xrouter.data.converters.routellm:convert_mmlu",
    "llmrouter": "xrouter.data.converters.llmrouter:convert",
    "zeroeval": "xrouter.data.converters.zeroeval:convert",
}
CACHE_VERSION = "1"  # bump when the cached layout changes (converter code is hashed into the key)


def dataset_config(name: str) -> DictConfig:
    """Load ``conf/dataset/<name>.yaml`` (for code that needs a dataset other than the composed one)."""
    path = CONF_DIR / "dataset" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
        raise FileNotFoundError(f"unknown dataset '{name}' (no {path}); known datasets: {known}")
    return OmegaConf.load(path)


def _converter(name: str) -> Callable[..., pd.DataFrame]:
    try:
        module, function = CONVERTERS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown converter '{name}'; known: {sorted(CONVERTERS)} or 'traces'") from None
    return getattr(import_module(module), function)


_SHA256: dict[tuple[str, int, int], str] = {}


def _content_hash(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime) in a process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = sha256_of(path)
    return _SHA256[key]


def _cache_key(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> str:
    """Changes with the config, the input files' contents and the converter's code and ``VERSION``."""
    stamp = {k: (p.name, _content_hash(p)) for k, p in files.items()}
    module = import_module(CONVERTERS[cfg["converter"]].split(":")[0])
    code = hashlib.sha1(Path(module.__file__).read_bytes()).hexdigest()
    # a converter may name further inputs (its helper modules, a price file): their contents count too
    extra = getattr(module, "cache_inputs", lambda options: [])(to_plain(cfg.get("options")) or {})
    extra = {str(p): _content_hash(Path(p)) for p in extra if Path(p).exists()}
    blob = json.dumps(
        [CACHE_VERSION, code, getattr(module, "VERSION", ""), to_plain(cfg), stamp, extra], sort_keys=True, default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _unlisted_task_files(cfg: Mapping[str, Any], data_dir: Path, task: str) -> dict[str, Path]:
    """``<task>/<stem>`` -> every ``<task_root>/<task>/*.json`` (and ``<task>/summary`` if present)."""
    root = Path(data_dir) / cfg["task_root"]
    folder = root / task
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not found:
        raise DataNotFoundError(
            f"dataset {cfg['name']}: task '{task}' is not listed in conf/dataset/{cfg['name']}.yaml and {folder} "
            f"holds no <model>.json files.\n  upstream: {cfg.get('upstream', 'none recorded')}/{task}/<model>.json\n"
            f"  Fix: put the task's files there, or choose listed tasks: "
            f"{sorted({k.split('/')[0] for k in cfg['files']})}"
        )
    log.warning(
        "dataset %s: task '%s' is not listed in its config: reading %d unverified files from %s (no checksums)",
        cfg["name"],
        task,
        len(found),
        folder,
    )
    files = {f"{task}/{path.stem}": path for path in found}
    if (root / f"{task}.summary.json").exists():
        files[f"{task}/summary"] = root / f"{task}.summary.json"
    return files


def dataset_files(cfg: Mapping[str, Any], data_dir: Path, download: bool = True) -> dict[str, Path]:
    """The local paths of a dataset's files (fetched when missing and downloadable), ``tasks`` applied."""
    specs = dict(cfg["files"])
    tasks = cfg.get("tasks")
    if tasks is None:
        return {
            key: ensure_file(data_dir, FileSpec.from_config(spec), download=download) for key, spec in specs.items()
        }
    tasks = [str(t) for t in tasks]
    files = {
        key: ensure_file(data_dir, FileSpec.from_config(spec), download=download)
        for key, spec in specs.items()
        if key.split("/")[0] in tasks
    }
    listed = {key.split("/")[0] for key in specs}
    for task in tasks:
        if task not in listed:
            files.update(_unlisted_task_files(cfg, data_dir, task))
    return files


def load_dataset(
    cfg: Mapping[str, Any], data_dir: Path, cache_dir: Path | None = None, download: bool = True
) -> pd.DataFrame:
    """All canonical traces of a dataset (every split), validated; cached as parquet when possible."""
    if cfg["converter"] == "traces":
        if not cfg.get("path"):
            raise ValueError("dataset=traces needs a file: add dataset.path=<canonical traces .parquet/.jsonl>")
        return load_traces(Path(cfg["path"]).expanduser())
    tasks = cfg.get("tasks")
    if tasks is not None and len(tasks) > 1:  # one conversion (and cache file) per task: any mix reuses them
        plain = to_plain(cfg)
        parts = [load_dataset({**plain, "tasks": [task]}, data_dir, cache_dir, download) for task in tasks]
        return validate_traces(pd.concat(parts, ignore_index=True), source=f"dataset {cfg['name']}")
    files = dataset_files(cfg, data_dir, download=download)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / "traces" / f"{cfg['name']}-{_cache_key(cfg, files)}.parquet"
        if cache_file.exists():
            return validate_traces(pd.read_parquet(cache_file), source=str(cache_file))
    options = to_plain(cfg.get("options")) or {}
    traces = validate_traces(_converter(cfg["converter"])(files, **options), source=f"dataset {cfg['name']}")
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            staging = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")  # readers never see half a file
            traces.to_parquet(staging, index=False)
            staging.replace(cache_file)
        except OSError as error:  # a read-only cache dir only costs speed
            log.warning("could not cache %s: %s", cache_file, error)
    return traces


def select_split(traces: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split (``all`` keeps every row)."""
    if split == "all":
        return traces
    available = sorted(traces["split"].unique())
    if split not in available:
        raise ValueError(f"split '{split}' is not in this dataset; available: {available} or 'all'")
    return traces[traces["split"] == split].reset_index(drop=True)


def load_split(
    cfg: Mapping[str, Any],
    data_dir: Path,
    split: str = "all",
    models: list[str] | None = None,
    cache_dir: Path | None = None,
) -> tuple[pd.DataFrame, int]:
    """Traces of one split restricted to prompts answered by every model; returns (traces, n_dropped)."""
    traces = select_split(load_dataset(cfg, data_dir, cache_dir=cache_dir), split)
    return complete_prompts(traces, models)


def default_cache_dir() -> Path:
    """``<project>/.cache``: converted traces, embeddings, tokenizers."""
    return PROJECT_ROOT / ".cache"


def load_pool_traces(traces: str, data_dir: Path, cache_dir: Path | None = None) -> pd.DataFrame:
    """``traces`` is a dataset name (``conf/dataset/<name>.yaml``) or a canonical trace file."""
    if (CONF_DIR / "dataset" / f"{traces}.yaml").exists():
        return load_dataset(dataset_config(traces), data_dir, cache_dir=cache_dir)
    path = Path(traces).expanduser()
    if not path.exists():
        known = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
        raise FileNotFoundError(f"pool.traces='{traces}' is neither a dataset name ({known}) nor an existing file")
    return load_traces(path)


def pool_traces(pool_cfg: Mapping[str, Any], data_dir: Path, cache_dir: Path | None = None) -> pd.DataFrame:
    """A replay pool's recorded traces (``pool.traces``) with its cost rules applied (``pool.hidden_reasoning``:
    ``xrouter/data/reasoning_cost.py``): what the pool replays and what every table of it is built from."""
    from xrouter.data.reasoning_cost import with_hidden_reasoning

    source = pool_cfg.get("traces")
    if not source or source == "???":
        raise ValueError(
            f"pool '{pool_cfg.get('name')}' has no recorded traces: set pool.traces=<dataset name or "
            "canonical trace file>"
        )
    traces = load_pool_traces(str(source), data_dir, default_cache_dir() if cache_dir is None else cache_dir)
    return with_hidden_reasoning(traces, pool_cfg.get("hidden_reasoning"))
