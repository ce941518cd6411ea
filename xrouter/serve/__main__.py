"""``python -m xrouter.serve router=<checkpoint dir or hub id> pool=<pool> port=<p>``: run the router server."""

from __future__ import annotations

import gc
import sys
from typing import Any

import hydra

from xrouter import CONF_DIR
from xrouter.config import one_line_errors  # also registers the config resolvers


def router_argument(argv: list[str]) -> list[str]:
    """``router=X`` -> ``router_path=X``: ``router`` is a config group elsewhere, so Hydra would look it up there."""
    return [f"router_path={arg.split('=', 1)[1]}" if arg.startswith("router=") else arg for arg in argv]


def run_serve(cfg: Any) -> None:
    """Build the server and serve it (blocking) on ``cfg.host:cfg.port``."""
    import uvicorn

    from xrouter.config import quiet_logs
    from xrouter.pool.http_serving import json_error_protocol
    from xrouter.serve.service import build_server

    quiet_logs()
    app, _ = build_server(cfg)
    gc.freeze()  # the pool's recorded answers and the tokenizer live for good: keep them out of GC passes
    uvicorn.run(
        app,
        host=str(cfg.host),
        port=int(cfg.port),
        log_level=str(cfg.get("log_level", "info")),
        access_log=False,
        http=json_error_protocol(),
    )  # uvicorn's own 400s: OpenAI error bodies


@hydra.main(config_path=str(CONF_DIR), config_name="serve", version_base="1.3")
@one_line_errors
def main(cfg: Any) -> None:
    run_serve(cfg)


if __name__ == "__main__":
    sys.argv = router_argument(sys.argv)
    main()
