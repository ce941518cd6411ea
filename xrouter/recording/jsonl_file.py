"""The recorder's append-only JSONL file: scanning (a last line cut short by a kill is dropped,
damage elsewhere is an error), per-pair resume status, compaction to the newest row per pair, the
flushing/fsyncing writer, and the output path check.  ``xrouter.record`` is the command line."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from xrouter.data.traces import OPTIONAL_COLUMNS, TRACE_COLUMNS, validate_traces

log = logging.getLogger(__name__)
ROW_COLUMNS = list(TRACE_COLUMNS) + list(OPTIONAL_COLUMNS) + ["attempts"]


class RecordError(ValueError):
    """A bad option or output path: reported in one line, without a traceback."""


def scan_rows(path: Path, on_row: Callable[[dict], None], repair: bool = False) -> None:
    """Call ``on_row`` for each row of a recorder JSONL file, oldest first.  A last line that is not
    valid JSON (a write cut short by a kill) is skipped with a warning; with ``repair`` it is also
    cut from the file so that appends start on a fresh line.  A bad line elsewhere is an error."""
    if not path.exists():
        return
    bad: tuple[int, int, str] | None = None  # line number, byte offset, reason
    offset = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                if bad is not None:
                    raise RecordError(
                        f"{path}: line {bad[0]} is not valid JSON ({bad[2]}) and is not the last "
                        "line: the file is damaged; fix or move it"
                    )
                try:
                    row = json.loads(line)
                except ValueError as error:
                    bad = (number, offset, getattr(error, "msg", str(error)))
                else:
                    if not isinstance(row, dict) or not {"prompt_id", "model"} <= set(row):
                        raise RecordError(
                            f"{path}: line {number} is not a trace row (a JSON object with "
                            "prompt_id and model); is this the right output file?"
                        )
                    on_row(row)
            offset += len(line)
    if bad is None:
        if repair and offset and not line.endswith(b"\n"):
            with open(path, "ab") as handle:
                handle.write(b"\n")
        return
    log.warning(
        "%s: line %d is incomplete (%s), probably cut short by a kill; skipped%s",
        path,
        bad[0],
        bad[2],
        " and removed" if repair else "",
    )
    if repair:
        with open(path, "r+b") as handle:
            handle.truncate(bad[1])


def pair_status(path: Path, repair: bool = False) -> dict[tuple[str, str], bool]:
    """(prompt_id, model) -> whether the newest row of that pair has an error."""
    status: dict[tuple[str, str], bool] = {}

    def note(row: dict) -> None:
        status[(row["prompt_id"], row["model"])] = row.get("error") is not None

    scan_rows(path, note, repair=repair)
    return status


def compact_traces(path: str | Path) -> pd.DataFrame:
    """The newest row of each (prompt_id, model) of a recorder JSONL file, validated
    (``validate_traces``).  Rows whose newest attempt failed keep their ``error``."""
    rows: list[dict] = []
    scan_rows(Path(path), rows.append)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=ROW_COLUMNS)
    frame = frame.drop_duplicates(["prompt_id", "model"], keep="last")
    return validate_traces(frame, source=str(path))


class RowWriter:
    """Appends rows as JSON lines: flushed one by one, fsynced every ``fsync_every`` rows and on close."""

    def __init__(self, path: Path, fsync_every: int) -> None:
        self.handle = open(path, "ab")
        self.fsync_every, self.unsynced = max(1, int(fsync_every)), 0

    def write(self, row: dict) -> None:
        """One JSON line; text that is not valid Unicode (a lone surrogate in an upstream's error
        message) is written with '?' in its place, so the line, and the file, stay readable."""
        line = json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"
        self.handle.write(line.encode("utf-8", "replace"))
        self.handle.flush()
        self.unsynced += 1
        if self.unsynced >= self.fsync_every:
            os.fsync(self.handle.fileno())
            self.unsynced = 0

    def close(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()


def prepare_output(output: Any) -> Path:
    """The output path, its folder created and the file opened for appending once (fail fast)."""
    if output in (None, "", "???"):
        raise RecordError("output=<file.jsonl> is required")
    path = Path(str(output)).expanduser()
    if path.suffix != ".jsonl":
        raise RecordError(
            f"output={output}: use a .jsonl file (the append-only log); the compacted traces "
            "go beside it as <stem>.parquet"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        blocker = next(
            (p for p in (path, path.parent, *path.parent.parents) if p.exists() and not p.is_dir() and p != path), None
        )
        why = f"{blocker} is a file, not a folder" if blocker else (error.strerror or str(error))
        raise RecordError(f"output={output}: cannot write there ({why}); choose a writable folder") from None
    return path
