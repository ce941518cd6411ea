"""The canonical trace format (one row per prompt x model) and its validating loader/writer.

Columns (see DESIGN.md): prompt_id, benchmark, split, prompt, gold, model, response, score,
input_tokens, output_tokens, cost_usd, latency_s, source.  Two optional columns are understood:
``cost_estimated`` (bool: the cost was estimated, not measured) and ``error`` (str: the call
failed; recorded by ``xrouter.record``).  Any other extra column is kept as is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

# column -> (kind, nullable).  kind is one of str, float, int, bool.
TRACE_COLUMNS: dict[str, tuple[str, bool]] = {
    "prompt_id": ("str", False),
    "benchmark": ("str", False),
    "split": ("str", False),
    "prompt": ("str", False),
    "gold": ("str", True),
    "model": ("str", False),
    "response": ("str", True),
    "score": ("float", False),
    "input_tokens": ("int", True),
    "output_tokens": ("int", True),
    "cost_usd": ("float", False),
    "latency_s": ("float", True),
    "source": ("str", False),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, bool]] = {
    "cost_estimated": ("bool", False),
    "error": ("str", True),
}
PANDAS_DTYPES = {"str": "string", "float": "float64", "int": "Int64", "bool": "boolean"}


class TraceFormatError(ValueError):
    """A trace file or frame does not follow the canonical format."""


def _bad_value(value: Any, kind: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return False  # nullability is checked separately
    if kind == "str":
        return not isinstance(value, str)
    if kind == "bool":
        return not isinstance(value, (bool,)) and not (hasattr(value, "dtype") and value.dtype == bool)
    if kind in ("int", "float"):
        if isinstance(value, bool):
            return True
        try:
            number = float(value)
        except (TypeError, ValueError):
            return True
        if kind == "int" and not float(number).is_integer():
            return True
        return False
    return False


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def validate_traces(frame: pd.DataFrame, source: str = "<frame>") -> pd.DataFrame:
    """Check columns, types and value ranges; return a copy with canonical dtypes.

    Errors name the file (``source``), the first offending row (0-based, as in the file) and the
    column, so a user can fix their own recorded data.
    """
    missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
    if missing:
        raise TraceFormatError(
            f"{source}: missing column(s) {missing}; a trace file needs {list(TRACE_COLUMNS)} "
            "(see DESIGN.md, 'Canonical trace format')"
        )
    spec = dict(TRACE_COLUMNS)
    spec.update({c: k for c, k in OPTIONAL_COLUMNS.items() if c in frame.columns})
    out = frame.reset_index(drop=True).copy()
    for column, (kind, nullable) in spec.items():
        values = out[column].tolist()
        for row, value in enumerate(values):
            if _is_null(value):
                if not nullable:
                    raise TraceFormatError(
                        f"{source}: row {row}, column '{column}': empty, but this column is required"
                    )
                continue
            if _bad_value(value, kind):
                raise TraceFormatError(f"{source}: row {row}, column '{column}': {value!r} is not a valid {kind}")
        out[column] = out[column].astype(PANDAS_DTYPES[kind])
    for column, low, high in (("score", 0.0, 1.0), ("cost_usd", 0.0, math.inf)):
        bad = ~out[column].between(low, high)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise TraceFormatError(
                f"{source}: row {row}, column '{column}': {out[column].iloc[row]} is outside [{low}, {high}]"
            )
    duplicated = out.duplicated(["prompt_id", "model"])
    if duplicated.any():
        row = int(duplicated.to_numpy().nonzero()[0][0])
        raise TraceFormatError(
            f"{source}: row {row}: (prompt_id={out.prompt_id.iloc[row]!r}, model={out.model.iloc[row]!r}) "
            "appears twice; a trace file holds one row per (prompt, model)"
        )
    if "cost_estimated" not in out.columns:
        out["cost_estimated"] = pd.array([False] * len(out), dtype="boolean")
    return out


def load_traces(path: str | Path) -> pd.DataFrame:
    """Read a parquet or JSONL trace file and validate it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"trace file {path} does not exist (give a parquet or JSONL file in the canonical format)"
        )
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix in (".jsonl", ".json"):
        frame = read_jsonl_rows(path)
    else:
        raise TraceFormatError(f"{path}: unknown trace file type '{path.suffix}'; use .parquet or .jsonl")
    return validate_traces(frame, source=str(path))


def read_jsonl_rows(path: Path) -> pd.DataFrame:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise TraceFormatError(f"{path}: line {line_number} is not valid JSON ({error.msg})") from None
    return pd.DataFrame(rows)


def save_traces(frame: pd.DataFrame, path: str | Path) -> Path:
    """Validate and write traces as parquet or JSONL (by suffix)."""
    path = Path(path)
    frame = validate_traces(frame, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        raise TraceFormatError(f"{path}: unknown trace file type '{path.suffix}'; use .parquet or .jsonl")
    return path


def complete_prompts(traces: pd.DataFrame, models: Iterable[str] | None = None) -> tuple[pd.DataFrame, int]:
    """Keep only prompts that have a row for every model (a replay pool needs all answers).

    Returns the filtered traces and the number of prompts dropped.
    """
    models = sorted(set(models) if models is not None else set(traces["model"]))
    traces = traces[traces["model"].isin(models)]
    counts = traces.groupby("prompt_id")["model"].nunique()
    keep = counts.index[counts == len(models)]
    dropped = int((counts != len(models)).sum())
    return traces[traces["prompt_id"].isin(keep)].reset_index(drop=True), dropped
