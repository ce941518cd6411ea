"""The code passes the linter and is formatted: ``ruff check`` and ``ruff format --check`` with pyproject.toml's
settings (line length 120)."""

import subprocess
import sys
from pathlib import Path

import pytest

from xrouter import PROJECT_ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_passes(command):
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), f"ruff is not installed beside {sys.executable}: pip install -e .[dev]"
    done = subprocess.run(
        [str(ruff), *command, "--no-cache", "."], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    fix = "ruff format ." if command[0] == "format" else "ruff check --fix ."
    assert done.returncode == 0, f"run `{fix}`:\n" + done.stdout[-8000:] + done.stderr[-2000:]
