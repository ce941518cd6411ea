"""Layer rules this branch's modules keep (DESIGN.md, "Layout"): ``xrouter.pool`` and ``xrouter.verify``
import nothing of xrouter outside themselves and ``xrouter.config`` (not build, not data, not each
other); no module under ``xrouter/`` is over 320 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from xrouter import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "xrouter"


def xrouter_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "xrouter" or n.startswith("xrouter.")}


@pytest.mark.parametrize("layer", ["pool", "verify"])
def test_the_layer_imports_only_itself_and_config(layer):
    allowed = (f"xrouter.{layer}", "xrouter.config")
    upward = {
        str(path.relative_to(PROJECT_ROOT)): sorted(n for n in xrouter_imports(path) if not n.startswith(allowed))
        for path in sorted((PACKAGE / layer).rglob("*.py"))
    }
    assert {path: names for path, names in upward.items() if names} == {}


def test_the_modules_of_this_branch_stay_under_320_lines():
    ours = ["pool", "verify", "serve", "record.py", "recording", "serve_pool.py"]
    paths = [
        p for name in ours for p in ((PACKAGE / name).rglob("*.py") if (PACKAGE / name).is_dir() else [PACKAGE / name])
    ]
    long = {str(p.relative_to(PROJECT_ROOT)): n for p in paths if (n := len(p.read_text().splitlines())) > 320}
    assert long == {}
