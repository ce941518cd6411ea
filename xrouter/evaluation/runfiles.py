"""A run directory (the run-file contract of ``analysis/__init__.py``), written resumably.

While a run goes, each finished episode is appended as one JSON line to ``episodes.jsonl`` (flushed
per chunk), so a killed run loses at most the chunk in flight.  Rerunning the same command skips
the prompt ids already there (a last line cut short by a kill is dropped).  At the end the rows are
put in the examples' order and written as ``episodes.parquet``, with ``summary.json`` and
``config.yaml``; the JSONL is then removed.  ``.fingerprint`` holds a hash of what defines the run
(policy, knob, benchmark, split, pool, reward, seed): resuming into a directory of another run
is an error, not a silent mix (``overwrite=true`` starts it afresh).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xrouter.env.episode import Episode
from xrouter.env.summary import run_summary

log = logging.getLogger(__name__)

LIST_COLUMNS = ("models_called", "actions", "call_costs_usd")


def episode_latency(episode: Episode) -> float:
    """Seconds of tool calls on the episode's critical path: per turn the slowest call (a turn's
    calls run concurrently), summed over turns.  The router's own generation time is not in it."""
    return sum(max(c.latency_s for c in turn.calls) for turn in episode.turns if turn.calls)


def episode_actions(episode: Episode) -> list[str]:
    """What the policy did, turn by turn: ``call_<model>`` per call, ``malformed`` per malformed
    call, then how it ended: ``answer`` (direct), ``select_response(call_<model>)``, or the
    termination (``turn_limit``, ``length_limit``, ``error``); a simple-mode call is final itself."""
    actions = []
    for turn in episode.turns:
        actions += [c.call_name for c in turn.calls] + ["malformed"] * len(turn.malformed)
    if episode.termination == "final_text":
        actions.append("answer")
    elif episode.termination == "select":
        actions.append(f"select_response({episode.final_source})")
    elif episode.termination not in ("simple_call", None):
        actions.append(str(episode.termination))
    return actions


def episode_row(episode: Episode) -> dict[str, Any]:
    """One row of episodes.parquet: ``Episode.summary()`` plus ``latency_s``, ``actions`` and
    ``call_costs_usd`` (the cost breakdown, one entry per call in order)."""
    return {
        **episode.summary(),
        "latency_s": episode_latency(episode),
        "actions": episode_actions(episode),
        "call_costs_usd": [c.cost_usd for c in episode.calls],
    }


def fingerprint(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def episode_bar(total: int, already_done: int, label: str, enabled: bool = True, leave: bool = True) -> Any:
    """A tqdm bar over a run's episodes that starts at the ones a resumed run already has; None when disabled or
    nothing is left to run."""
    if not enabled or already_done >= total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=already_done, desc=f"eval {label}", unit="ep", dynamic_ncols=True, leave=leave)


class RunDir:
    """Append-only episode log of one run directory, with resume and consolidation."""

    def __init__(self, path: str | Path, key: str, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.jsonl = self.path / "episodes.jsonl"
        self.parquet = self.path / "episodes.parquet"
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = self.path / ".fingerprint"
        if overwrite:
            for f in (self.jsonl, self.parquet, self.path / "summary.json"):
                f.unlink(missing_ok=True)
        elif stamp.exists() and stamp.read_text().strip() != key:
            raise RuntimeError(
                f"{self.path} holds episodes of another run (policy, knob, data or reward differ); "
                "use another output_dir, or overwrite=true to start this one afresh"
            )
        stamp.write_text(key + "\n")
        self._done: dict[str, dict[str, Any]] | None = None

    def done(self) -> dict[str, dict[str, Any]]:
        """Rows already written, by prompt id (the newest wins)."""
        if self._done is None:
            rows: dict[str, dict[str, Any]] = {}
            if self.parquet.exists():
                for r in pd.read_parquet(self.parquet).to_dict("records"):
                    rows[str(r["prompt_id"])] = {
                        k: (list(v) if k in LIST_COLUMNS and v is not None else v) for k, v in r.items()
                    }
            if self.jsonl.exists():
                text = self.jsonl.read_text(encoding="utf-8")
                lines = text.splitlines()
                repair = bool(text) and not text.endswith("\n")  # the log must end with a newline
                for number, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        r = json.loads(line)
                    except json.JSONDecodeError:
                        if number == len(lines) - 1:  # cut short by a kill: drop it from the file too
                            log.warning("%s: dropping a last line cut short (a killed run)", self.jsonl)
                            lines, repair = lines[:-1], True
                            continue
                        raise
                    rows[str(r["prompt_id"])] = r
                if repair:
                    self.jsonl.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            self._done = rows
        return self._done

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        done = self.done()  # reads (and repairs) the log before the first append
        with open(self.jsonl, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
            handle.flush()
            os.fsync(handle.fileno())
        for r in rows:
            done[str(r["prompt_id"])] = dict(r)

    def finalize(
        self, order: Sequence[str], identity: Mapping[str, Any], config_yaml: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """episodes.parquet (in ``order``), summary.json and config.yaml; returns the summary."""
        done = self.done()
        missing = [p for p in order if p not in done]
        if missing:
            raise RuntimeError(f"{len(missing)} episodes are missing from {self.path} (e.g. {missing[:3]})")
        rows = [done[p] for p in order]
        frame = pd.DataFrame(rows)
        tmp = self.path / ".episodes.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(self.parquet)
        summary = run_summary(rows, identity, **extra)
        (self.path / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        if config_yaml is not None:
            (self.path / "config.yaml").write_text(config_yaml)
        self.jsonl.unlink(missing_ok=True)
        return summary
