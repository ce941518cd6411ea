"""``python -m xrouter.serve_pool pool=<pool> port=8001 faults.<field>=...``: serve a configured pool.

The entry point composes ``conf/serve_pool.yaml``, builds the pool (``xrouter.build``) and serves
it with the app of ``xrouter.pool.api`` (see there for routes and faults; ``faults.py`` for the
fault fields).  A test / development server: no authentication; keep it on 127.0.0.1.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import uvicorn

import xrouter
import xrouter.config  # noqa: F401  (registers the config resolvers)
from xrouter.config import one_line_errors
from xrouter.pool.api import MAX_BODY_BYTES, build_app
from xrouter.pool.faults import FaultConfig
from xrouter.pool.http_serving import json_error_protocol

log = logging.getLogger(__name__)


def run_pool_server(cfg: Any) -> None:
    """Build the configured pool and serve it (blocking) on ``cfg.host:cfg.port``."""
    from xrouter.build import build_pool
    from xrouter.config import data_dir_of, to_plain

    cache_dir = cfg.paths.get("cache_dir")
    pool = build_pool(cfg.pool, data_dir_of(cfg), cache_dir=Path(cache_dir) if cache_dir else None)
    faults = FaultConfig.from_mapping(to_plain(cfg.get("faults")) or {})
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "serving on %s: this test server has no authentication and its /admin routes let any "
            "client change the faults",
            cfg.host,
        )
    log.info("serving pool %s on http://%s:%s/v1 with faults %s", pool.names, cfg.host, cfg.port, faults)
    app = build_app(
        pool, faults, admin=bool(cfg.get("admin", True)), max_body_bytes=int(cfg.get("max_body_bytes", MAX_BODY_BYTES))
    )
    uvicorn.run(
        app,
        host=cfg.host,
        port=int(cfg.port),
        log_level=str(cfg.get("log_level", "info")),
        access_log=False,
        http=json_error_protocol(),
    )


@hydra.main(config_path=str(xrouter.CONF_DIR), config_name="serve_pool", version_base="1.3")
@one_line_errors
def main(cfg: Any) -> None:
    run_pool_server(cfg)


if __name__ == "__main__":
    main()
