"""A router directory's settings file, ``xrouter.json``: how the router was prompted, decoded and rewarded.

``xrouter.train`` writes it beside the weights (``<run>/router/xrouter.json``), so a router
directory is self-describing: ``xrouter.evaluate policy=router`` and ``xrouter.serve`` read it
instead of re-deriving training sections.  It holds the prompt style, the router's own price, the
environment (mode, turns, call max_tokens, action format: tool calls or Router-R1's tags), generation
(max_new_tokens, end-of-turn token, context), the reward it was trained on (its knob: ``lam`` or ``alpha``),
the pool's tool names and the weights it started from; a prefix router (router=tiny_encoder) adds its
``conditioning``: the sentence encoder, the soft-prefix length and whether (and over which range) it is told lambda
(version 2; version-1 files, written before prefix routers, are read as routers without one).
A hub id (or a directory without the file) takes the same fields from
the caller's config (``RouterSettings.from_config``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xrouter.config import to_plain

log = logging.getLogger(__name__)

SETTINGS_FILE = "xrouter.json"
# routers that read a tool result through a 64-character window (conf/router/tiny*.yaml)
SMALL_ROUTER_KINDS = ("tiny", "tiny_encoder")
SETTINGS_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: before prefix routers (no ``conditioning``)


def resolve_tool_result_view(view: str, router_kind: str | None) -> str:
    """``env.tool_result_view`` with ``auto`` resolved: ``answer`` for the tiny routers, an adaptation for small
    routers (in full mode on pool=zeroeval_reasoning it tied with ``clip`` on dev reward and trained 1.4x faster:
    experiments/reasoning_pool/README.md section 4); ``clip`` for LLM routers, which read a long clip themselves.
    Other values pass through (``RouterEnv`` names a bad one)."""
    if view == "auto":
        return "answer" if router_kind in SMALL_ROUTER_KINDS else "clip"
    return view


class RouterSettingsError(ValueError):
    """A router directory's settings file is missing, unreadable or from an unknown version."""


@dataclass
class RouterSettings:
    """Everything besides the weights that decides what a router sees and does."""

    prompt: dict[str, Any]
    price: dict[str, Any] | None
    mode: str  # simple | full
    max_turns: int
    call_max_tokens: int | None
    max_new_tokens: int  # per router turn
    eos_token: str
    max_seq_len: int
    reward: dict[str, Any] = field(default_factory=dict)
    pool_models: list[str] | None = None  # the tool names it was trained with
    router_name: str | None = None
    initial_router: str | None = None  # the weights training started from
    source: str = "config"  # where these came from (logs, errors)
    version: int = SETTINGS_VERSION
    conditioning: dict[str, Any] | None = None  # a prefix router's ConditioningSpec (router/conditioning.py)
    action_format: str = "tool_calls"  # tool_calls | router_r1 (env.format)
    tool_result_view: str = "clip"  # clip | full | answer (env.tool_result_view)

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], pool_models: Sequence[str] | None = None, source: str = "config"
    ) -> RouterSettings:
        """The settings of a composed train/evaluate config (its router, env, rollout, reward sections; the
        rest of the config is not read, nor resolved)."""

        def plain(section: str) -> dict[str, Any]:
            return dict(to_plain(cfg.get(section)) or {})

        router, env, rollout = plain("router"), plain("env"), plain("rollout")
        return cls(
            conditioning=conditioning_of(router, plain("reward")),
            prompt=dict(router.get("prompt") or {}),
            price=router.get("price"),
            mode=str(env["mode"]),
            max_turns=int(env["max_turns"]),
            call_max_tokens=env.get("call_max_tokens"),
            max_new_tokens=int(rollout["max_new_tokens"]),
            eos_token=str(rollout.get("eos_token", "<|im_end|>")),
            max_seq_len=int(rollout["max_seq_len"]),
            reward=plain("reward"),
            pool_models=sorted(pool_models) if pool_models else None,
            router_name=router.get("name"),
            source=source,
            action_format=str(env.get("format", "tool_calls")),
            tool_result_view=resolve_tool_result_view(str(env.get("tool_result_view", "clip")), router.get("kind")),
        )

    @property
    def knob(self) -> dict[str, float]:
        """The reward's cost weight, the coordinate of a sweep: ``{"lam": 1.0}`` (or ``alpha``), else ``{}``."""
        for name in ("lam", "alpha"):
            if self.reward.get(name) is not None:
                return {name: float(self.reward[name])}
        return {}

    @property
    def from_router_dir(self) -> bool:
        """Whether these are the router's own settings (its ``xrouter.json`` or its training run's config)."""
        return self.source.endswith((SETTINGS_FILE, "config.yaml"))

    def save(self, router_dir: str | Path) -> Path:
        path = Path(router_dir) / SETTINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = asdict(self)
        fields.pop("source")
        path.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, router_dir: str | Path) -> RouterSettings:
        """The settings file of ``router_dir``; ``RouterSettingsError`` naming the problem and the fix."""
        path = Path(router_dir).expanduser() / SETTINGS_FILE
        if not path.exists():
            raise RouterSettingsError(
                f"{router_dir} has no {SETTINGS_FILE}: it was not written by xrouter.train "
                "(or by a version before router directories carried their settings). "
                "Retrain, or evaluate/serve it with its settings from the config "
                "(policy.use_router_settings=false / from_run_config=false)"
            )
        try:
            fields = json.loads(path.read_text())
        except ValueError as err:
            raise RouterSettingsError(f"{path} is not valid JSON ({err}); rewrite it or retrain") from None
        version = fields.pop("version", None)
        if version not in READABLE_VERSIONS:
            raise RouterSettingsError(
                f"{path} is settings version {version!r}; this xrouter reads versions {list(READABLE_VERSIONS)}"
            )
        if fields.get("conditioning") is not None:
            from xrouter.router.conditioning import ConditioningSpec

            try:
                ConditioningSpec.from_dict(fields["conditioning"])
            except (TypeError, ValueError, KeyError) as err:
                raise RouterSettingsError(f"{path}: bad conditioning ({err}); retrain the router") from None
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise RouterSettingsError(f"{path}: unknown fields {unknown}")
        try:
            return cls(**fields, source=str(path))
        except TypeError as err:
            raise RouterSettingsError(f"{path}: {err}") from None


def conditioning_of(router: Mapping[str, Any], reward: Mapping[str, Any]) -> dict[str, Any] | None:
    """A prefix router's conditioning (``router.kind: tiny_encoder``): its encoder and soft-prefix length,
    and lambda conditioning exactly when it is trained over sampled lambdas (``reward.lam_sampling``)."""
    if router.get("kind") != "tiny_encoder":
        return None
    sampling = reward.get("lam_sampling")
    return {
        "encoder": dict(router.get("encoder") or {"kind": "minilm"}),
        "lam_conditioned": bool(sampling),
        "lam_max": float(sampling["high"]) if sampling else float(reward.get("lam") or 0.0) or 1.0,
        "default_lam": float(reward.get("lam") or 0.0),
        "prefix_tokens": int(router.get("prefix_tokens", 4)),
        "lam_features": str(router.get("lam_features", "log1p")),
    }


def has_settings(router_path: str | Path) -> bool:
    """Whether ``router_path`` is a local router directory with a settings file."""
    return (Path(router_path).expanduser() / SETTINGS_FILE).is_file()


def load_router_settings(router_path: str | Path, fallback: RouterSettings) -> RouterSettings:
    """The settings a saved router runs with: its ``xrouter.json``; for a router directory of an older
    training run, the run's ``config.yaml`` beside it; for a hub id, ``fallback`` (from the caller's config)."""
    directory = Path(str(router_path)).expanduser()
    if has_settings(directory):
        return RouterSettings.read(directory)
    run_config = directory.parent / "config.yaml"
    if directory.is_dir() and run_config.exists():
        from omegaconf import OmegaConf

        log.warning(
            "%s has no %s (a run from before router settings files): settings from %s",
            directory,
            SETTINGS_FILE,
            run_config,
        )
        run = OmegaConf.to_container(OmegaConf.load(run_config), resolve=True)
        run_pool = (run.get("pool") or {}).get("models")
        return RouterSettings.from_config(run, sorted(run_pool) if run_pool else None, source=str(run_config))
    return fallback
