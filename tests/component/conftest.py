"""Component fixtures shared across files: the RouterBench replay pool, that pool behind the HTTP pool
server on 127.0.0.1 (the fault-injecting fake upstream: ``/admin/faults``), and a tiny router's loop."""

from __future__ import annotations

import pytest

from tests.conftest import compose


@pytest.fixture(scope="module")
def routerbench_pool(shared_data_dir):
    """The 11-model RouterBench replay pool (a fresh ledger per test module)."""
    from xrouter.build import build_pool

    return build_pool(compose("stats", ["+pool=routerbench"]).pool, shared_data_dir)


@pytest.fixture(scope="module")
def routerbench_pool_server(shared_data_dir):
    """The replay pool served by ``xrouter.serve_pool``'s app in a thread; yields its base URL."""
    from xrouter.build import build_pool
    from xrouter.pool.api import build_app, serve_in_thread

    pool = build_pool(compose("serve_pool", []).pool, shared_data_dir)
    with serve_in_thread(build_app(pool)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def tiny_full_mode_run(shared_data_dir, tmp_path_factory):
    """``build_run`` of the training config in full (multi-turn) mode: the tiny router over the replay
    pool, its tokenizer trained on 200 training prompts."""
    from xrouter.build import build_run

    cache = tmp_path_factory.mktemp("cache")
    run = build_run(compose("train", ["env.mode=full", "data.train_max=200", f"paths.cache_dir={cache}"]))
    yield run
    run.close()
