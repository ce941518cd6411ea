"""The code passes the linter: ``ruff check`` over the project with its pyproject.toml settings."""

import subprocess
import sys
from pathlib import Path

from xrouter import PROJECT_ROOT


def test_ruff_check_passes():
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), f"ruff is not installed beside {sys.executable}: pip install -e .[dev]"
    done = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
