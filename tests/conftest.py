"""Shared fixtures: the real data under ../shared/data (or $XROUTER_DATA_DIR) and Hydra configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xrouter import PROJECT_ROOT

SHARED_DATA = Path(os.environ.get("XROUTER_DATA_DIR") or PROJECT_ROOT.parent / "shared" / "data").resolve()
# set for the whole session, so module- and session-scoped fixtures resolve paths.data_dir to it too
os.environ["XROUTER_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not (SHARED_DATA / "routing").exists():
        pytest.fail(f"the shared data is not at {SHARED_DATA}; set XROUTER_DATA_DIR to the shared/data folder")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test resolves paths.data_dir to the shared data unless it says otherwise."""
    monkeypatch.setenv("XROUTER_DATA_DIR", str(SHARED_DATA))


@pytest.fixture(scope="session")
def routerbench_traces(shared_data_dir: Path):
    from xrouter.data.datasets import dataset_config, load_dataset

    return load_dataset(dataset_config("routerbench"), shared_data_dir)


def compose(config_name: str, overrides: list[str] | None = None):
    """The real Hydra config of an entry point, with overrides (lightning-hydra-template style)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import xrouter.config  # noqa: F401  (registers resolvers)
    from xrouter import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [], return_hydra_config=False)
