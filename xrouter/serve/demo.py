"""A quickly cold-started tiny router in the layout ``xrouter.train`` writes, to try, test and benchmark the server.

    python -m xrouter.serve.demo <out_dir> [steps] [model ...]

writes ``<out_dir>/router/`` (model, tokenizer, chat template) and ``<out_dir>/config.yaml`` (the
train config it was built with).  Only the supervised cold start runs (no RL; 160 steps take 1-3
minutes on one CPU thread of a busy 2-core box): the router then writes valid ``call_<model>`` +
``select_response`` turns, to the model(s) the cold start happened to favour; it has learnt no routing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

DEMO_MODELS = ("gpt-4-1106-preview", "claude-instant-v1", "mistral-7b-chat")  # those of conf/pool/local_server.yaml


def build_demo_router(out_dir: str | Path, steps: int = 160, models: Sequence[str] = DEMO_MODELS,
                      data_dir: str | Path | None = None, seed: int = 0, threads: int = 1, lr: float | None = None,
                      batch_size: int | None = None) -> Path:
    """Cold-start the tiny router on RouterBench replay calls to ``models``; returns ``<out_dir>/router``."""
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from xrouter import CONF_DIR
    from xrouter.build import build_agent_loop, build_env, build_pool, build_router, router_corpus, router_extra_tokens
    from xrouter.config import data_dir_of
    from xrouter.data.benchmarks import load_benchmark
    from xrouter.pool.pool import ModelPool
    from xrouter.rl.cold_start import cold_start

    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"seed={seed}", f"output_dir={out_dir}"] +
                      ([f"paths.data_dir={data_dir}"] if data_dir else []))
    data_dir = data_dir_of(cfg)
    full = build_pool(cfg.pool, data_dir)
    unknown = sorted(set(models) - set(full.names))
    if unknown:
        raise ValueError(f"demo router models {unknown} are not in pool {cfg.pool.name} ({full.names})")
    pool = ModelPool({m: full.endpoints[m] for m in models}, {m: full.cards[m] for m in models})
    train = load_benchmark(cfg.benchmark, data_dir, cfg.data.train_split).to_dict("records")
    env = build_env(cfg, pool)
    cache_dir = out_dir / "cache"
    model, tokenizer = build_router(cfg.router, router_corpus(train, env), cache_dir,
                                    extra_tokens=router_extra_tokens(pool))
    loop = build_agent_loop(cfg, model, tokenizer, env)
    cold_start(model, loop, train, pool.names, steps=steps, batch_size=batch_size or cfg.cold_start.batch_size,
               lr=lr or cfg.cold_start.lr,
               micro_batch_size=cfg.rollout.micro_batch_size, seed=seed, system_prompt=None,
               warmup_steps=cfg.cold_start.warmup_steps)
    loop.close()
    router_dir = out_dir / "router"
    model.save_pretrained(router_dir)
    tokenizer.save_pretrained(router_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["pool"]["models"] = {m: config["pool"]["models"][m] for m in models}
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    return router_dir


def cached_demo_router(cache_dir: str | Path, steps: int = 160, models: Sequence[str] = DEMO_MODELS,
                       data_dir: str | Path | None = None, seed: int = 0) -> Path:
    """``build_demo_router`` once per (settings, code of the router, chat format and cold start), kept
    under ``<cache_dir>/serve_demo_router/<key>``, like the untrained tiny router's cache."""
    import xrouter

    package = Path(xrouter.__file__).parent
    sources = [package / "rl" / "cold_start.py", package / "build.py", *sorted((package / "router").glob("*.py")),
               *sorted((package.parent / "conf").glob("*/tiny.yaml")), package.parent / "conf" / "train.yaml"]
    digest = hashlib.sha1(json.dumps([steps, list(models), seed]).encode())
    for source in sources:
        digest.update(source.read_bytes())
    path = Path(cache_dir) / "serve_demo_router" / digest.hexdigest()[:16]
    if (path / "router" / "config.json").exists() and (path / "config.yaml").exists():
        return path / "router"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="building-", dir=path.parent))
    build_demo_router(staging, steps, models, data_dir=data_dir, seed=seed)
    shutil.rmtree(staging / "cache", ignore_errors=True)
    try:
        staging.rename(path)
    except OSError:  # another process built it first
        shutil.rmtree(staging, ignore_errors=True)
    return path / "router"


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m xrouter.serve.demo <out_dir> [steps] [model ...]")
    print(build_demo_router(args[0], int(args[1]) if len(args) > 1 else 160, args[2:] or DEMO_MODELS))
