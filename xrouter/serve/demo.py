"""A quickly cold-started tiny router in the layout ``xrouter.train`` writes, to try, test and benchmark the server.

    python -m xrouter.serve.demo <out_dir> [steps] [model ...]

writes ``<out_dir>/router/`` (model, tokenizer, chat template, ``xrouter.json``) and
``<out_dir>/config.yaml`` (the train config it was built with).  Only the supervised cold start runs (no
RL; 60 steps, each scripting every prompt with every demo model, take about a minute on one CPU thread): the
router then writes valid ``call_<model>`` + ``select_response`` turns, to the model(s) the cold start happened to
favour; it has learnt no routing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEMO_MODELS = ("gpt-4-1106-preview", "claude-instant-v1", "mistral-7b-chat")  # those of conf/pool/local_server.yaml


def demo_config(out_dir: str | Path, data_dir: str | Path | None = None, seed: int = 0, router: str = "tiny"):
    """The train config the demo router is built with (``router=tiny_encoder``: a lambda-conditioned prefix
    router, whose cold start teaches the format only: its choices do not yet depend on lambda)."""
    from hydra import compose, initialize_config_dir

    import xrouter.config  # noqa: F401  (registers the config resolvers)
    from xrouter import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # full mode: call + select; no dev slice: the cold start sees every training prompt
        return compose(
            "train",
            [f"seed={seed}", f"output_dir={out_dir}", "env.mode=full", "data.dev_fraction=0", f"router={router}"]
            + ([f"paths.data_dir={data_dir}"] if data_dir else []),
        )


def build_demo_router(
    out_dir: str | Path,
    steps: int = 60,
    models: Sequence[str] = DEMO_MODELS,
    data_dir: str | Path | None = None,
    seed: int = 0,
    threads: int = 1,
    lr: float | None = None,
    batch_size: int | None = None,
    router: str = "tiny",
) -> Path:
    """Cold-start the tiny router on RouterBench replay calls to ``models``; returns ``<out_dir>/router``."""
    import torch
    from omegaconf import OmegaConf

    from xrouter.build import build_pool, build_run, save_router
    from xrouter.config import data_dir_of
    from xrouter.pool.pool import ModelPool
    from xrouter.rl.cold_start import cold_start

    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    cfg = demo_config(out_dir, data_dir, seed, router)
    full = build_pool(cfg.pool, data_dir_of(cfg))
    unknown = sorted(set(models) - set(full.names))
    if unknown:
        raise ValueError(f"demo router models {unknown} are not in pool {cfg.pool.name} ({full.names})")
    pool = ModelPool({m: full.endpoints[m] for m in models}, {m: full.cards[m] for m in models})
    run = build_run(cfg, pool=pool)
    cold_start(
        run.model,
        run.loop,
        run.train,
        pool.names,
        steps=steps,
        batch_size=batch_size or cfg.cold_start.batch_size,
        lr=lr or cfg.cold_start.lr,
        micro_batch_size=cfg.rollout.micro_batch_size,
        seed=seed,
        system_prompt=None,
        warmup_steps=cfg.cold_start.warmup_steps,
    )
    run.close()
    router_dir = save_router(run, out_dir / "router")
    config = OmegaConf.to_container(cfg, resolve=True)
    config["pool"]["models"] = {m: config["pool"]["models"][m] for m in models}
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    return router_dir


def cached_demo_router(
    cache_dir: str | Path,
    steps: int = 60,
    models: Sequence[str] = DEMO_MODELS,
    data_dir: str | Path | None = None,
    seed: int = 0,
    router: str = "tiny",
) -> Path:
    """``build_demo_router`` once per key, kept under ``<cache_dir>/serve_demo_router/<key>`` like the
    untrained tiny router's cache.  The key covers what the result depends on: the arguments, the
    config sections used (router, cold start, rollout, env, benchmark, the models' pool entries) and
    the code of the cold start, the router factory and chat format, and the router's corpus."""
    import inspect

    from omegaconf import OmegaConf

    from xrouter import build
    from xrouter.rl import cold_start
    from xrouter.router import chat_format, conditioning, model_loader, parsing, prefix_lm
    from xrouter.router.formats import tool_calls as tool_call_format

    cfg = OmegaConf.to_container(demo_config("demo", data_dir, seed, router), resolve=True)
    sections = {key: cfg[key] for key in ("router", "cold_start", "rollout", "env", "benchmark", "data", "seed")}
    sections["pool"] = {m: cfg["pool"]["models"].get(m) for m in models}
    code = [inspect.getsource(m) for m in (cold_start, model_loader, chat_format, prefix_lm, conditioning)]
    code += [
        inspect.getsource(f)
        for f in (
            build.router_corpus,
            build.router_extra_tokens,
            build.build_router,
            build.build_run,
            build.train_and_dev,
        )
    ]
    code += [inspect.getsource(parsing), inspect.getsource(tool_call_format)]
    digest = hashlib.sha1(json.dumps([steps, list(models), seed, sections, code], sort_keys=True, default=str).encode())
    path = Path(cache_dir) / "serve_demo_router" / digest.hexdigest()[:16]
    if (path / "router" / "config.json").exists() and (path / "router" / "xrouter.json").exists():
        return path / "router"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="building-", dir=path.parent))
    build_demo_router(staging, steps, models, data_dir=data_dir, seed=seed, router=router)
    try:
        staging.rename(path)
    except OSError:  # another process built it first
        shutil.rmtree(staging, ignore_errors=True)
    return path / "router"


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m xrouter.serve.demo <out_dir> [steps] [model ...]")
    print(build_demo_router(args[0], int(args[1]) if len(args) > 1 else 60, args[2:] or DEMO_MODELS))
