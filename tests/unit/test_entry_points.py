"""The command-line entry points of ``[project.scripts]``: each resolves to a Hydra main, and one runs."""

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from xrouter import PROJECT_ROOT

EXPECTED = {
    "xrouter-train",
    "xrouter-evaluate",
    "xrouter-serve",
    "xrouter-record",
    "xrouter-serve-pool",
    "xrouter-export",
    "xrouter-stats",
}


def test_every_entry_point_resolves_to_a_main():
    scripts = {ep.name: ep for ep in entry_points(group="console_scripts") if ep.name.startswith("xrouter-")}
    assert set(scripts) == EXPECTED, "reinstall (pip install -e .[dev]) after changing [project.scripts]"
    for name, ep in scripts.items():
        assert callable(ep.load()) and ep.value.endswith(":main"), name


def test_an_entry_point_composes_its_config():
    script = Path(sys.executable).with_name("xrouter-evaluate")
    done = subprocess.run(
        [str(script), "--cfg", "job", "policy=knn"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: knn" in done.stdout
