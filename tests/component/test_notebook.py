"""notebooks/explore_results.ipynb executes top to bottom on a set of runs (so it never rots) and shows
the Pareto plot and the tables."""

from __future__ import annotations

import base64
import io

import pytest

from tests.component.test_analysis import write_fixture_runs
from xrouter import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "explore_results.ipynb"


def test_notebook_executes_on_runs(routerbench_traces, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    import matplotlib.image as mpimg
    from nbclient import NotebookClient

    write_fixture_runs(routerbench_traces, tmp_path / "runs")
    monkeypatch.setenv("XROUTER_RUNS", str(tmp_path / "runs"))  # the parameters cell reads it
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()  # raises on any cell error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "21 runs on ['routerbench']" in text and "lambda sweep of xrouter" in text
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2
    image = mpimg.imread(io.BytesIO(base64.b64decode(pngs[0])), format="png")
    assert image.shape[0] > 300 and image.shape[1] > 500
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "xrouter lam=1" in html and "GPT-4.1" in html and html.count("<tr") > 21
