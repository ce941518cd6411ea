"""``python -m xrouter.train``: cold start + GRPO/DAPO training of a router, then test evaluation.

With no overrides: the tiny router on the RouterBench replay pool, on CPU, in minutes; at the end
the trained router is evaluated (greedy) on the test split beside every single model and the
oracle.  ``-m reward.lam=0,1,3,10`` makes one run directory per lambda.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import one_line_errors, quiet_logs, to_plain

log = logging.getLogger(__name__)


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """Train, save ``<output_dir>/router``, evaluate on the test split; returns the run's result (``result.json``).
    Each step is a function of ``xrouter/training.py``."""
    from xrouter.build import build_run
    from xrouter.evaluation.spend import SpendMeter
    from xrouter.machine import run_environment
    from xrouter.training import (
        deliver,
        describe,
        evaluate_on_test,
        finish,
        fit,
        prepare_run,
        run_device,
        starting_point,
        warm_start,
    )

    quiet_logs()
    check_train_config(cfg)
    output_dir = prepare_run(cfg)
    device = run_device(cfg)
    run = build_run(cfg, device=device)
    describe(cfg, run)
    meter = SpendMeter(run.pool.ledger)  # what each phase's pool calls cost
    warm_start(cfg, run, device)
    meter.mark("cold_start")
    step0, validation = starting_point(cfg, run, output_dir)
    meter.mark("dev_before_rl")
    trainer, checkpoints = fit(
        cfg, run, validation, output_dir, device, trainer_arguments(cfg.trainer), build_logger(cfg, output_dir)
    )
    meter.mark("rl_rollouts", {"val": "validation"})
    if not trainer.is_global_zero:  # rank 0 alone saves and evaluates
        run.loop.close()
        return {"output_dir": str(output_dir), "global_step": trainer.global_step, "rank": trainer.global_rank}
    result = deliver(cfg, run, step0, checkpoints, trainer.global_step, device, output_dir, meter)
    result.update(run_environment())
    if cfg.get("evaluate_test", True):
        result.update(evaluate_on_test(cfg, run, output_dir))
    run.loop.close()
    return finish(result, cfg, output_dir)


def check_train_config(cfg: DictConfig) -> None:
    """Fail before any work, with one line naming the key and its allowed values."""
    from xrouter.build import lm_reads_condition
    from xrouter.config import require
    from xrouter.env.tool_calls import TOOL_RESULT_VIEWS
    from xrouter.reward.lam_sampling import LamSampling
    from xrouter.rl.algo_config import AlgoConfig

    AlgoConfig.from_config(to_plain(cfg.algo))
    if cfg.trainer.get("strategy") == "fsdp" and cfg.rollout.backend == "vllm":
        raise ValueError(
            "trainer=fsdp with rollout=vllm is not supported yet (the engine would need the gathered "
            "weights after every step): use rollout=hf with trainer=fsdp, "
            "or trainer=ddp with rollout=vllm"
        )
    require(cfg, "trainer.max_steps", int, lambda v: v > 0, "a positive integer (optimizer steps)")
    require(cfg, "cold_start.steps", int, lambda v: v >= 0, "an integer >= 0 (0: no cold start)")
    require(cfg, "cold_start.batch_size", int, lambda v: v > 0, "a positive integer")
    if cfg.cold_start.get("escalation") is not None and (
        cfg.env.mode != "full" or cfg.cold_start.get("weighting") != "teacher"
    ):
        raise ValueError(
            f"cold_start.escalation={cfg.cold_start.escalation} scripts a teacher's second call after "
            f"reading the first answer: it needs env=full and cold_start.weighting=teacher (got "
            f"env.mode={cfg.env.mode}, weighting={cfg.cold_start.get('weighting')})"
        )
    require(cfg, "data.prompts_per_step", int, lambda v: v > 0, "a positive integer")
    require(cfg, "data.val_batch_size", int, lambda v: v > 0, "a positive integer")
    require(cfg, "data.dev_fraction", float, lambda v: 0 <= v < 1, "a number in [0, 1)")
    require(cfg, "rollout.group_size", int, lambda v: v > 0, "a positive integer (episodes per prompt)")
    require(cfg, "rollout.max_new_tokens", int, lambda v: v > 0, "a positive integer")
    for knob in ("lam", "alpha"):
        if knob in cfg.reward:
            require(cfg, f"reward.{knob}", float, lambda v: v >= 0, "a number >= 0")
    if "condition_lm" in cfg.router:
        lm_reads_condition(cfg.router.condition_lm, cfg.env.mode)
    if "tool_result_view" in cfg.env:  # absent: clip (RouterSettings)
        views = ("auto", *TOOL_RESULT_VIEWS)
        require(cfg, "env.tool_result_view", str, lambda v: v in views, ", ".join(views))
    if cfg.get("recipe_name") == "rl_only" and cfg.router.kind != "tiny_encoder":
        raise ValueError(
            "recipe=rl_only (the default) learns the routing in router=tiny_encoder's routing head, "
            f"which router={cfg.router.name} has not: add recipe=text_only (its own cold start and RL "
            "over the whole LM at one reward.lam) or recipe=teacher"
        )
    if cfg.logger.name == "wandb" and importlib.util.find_spec("wandb") is None:
        raise ValueError(
            'logger=wandb needs the wandb package: pip install -e ".[wandb]" (it logs offline, into '
            "the run directory, unless logger.offline=false); or logger=csv"
        )
    sampling = LamSampling.from_config(to_plain(cfg.reward.get("lam_sampling")))
    if sampling is not None and cfg.router.kind != "tiny_encoder":
        log.warning(
            "router=%s is not told lambda: trained over reward.lam_sampling's draws it learns one policy for "
            "their mix (reward.lam_sampling=null trains it for reward.lam; router=tiny_encoder reads lambda)",
            cfg.router.name,
        )
    if sampling is not None and cfg.reward.name != "xrouter":
        raise ValueError(
            f"reward.lam_sampling needs reward=xrouter (its lam is what is drawn), not "
            f"reward={cfg.reward.get('name')}, which has none: "
            "router=tiny_encoder draws lambda by default; "
            "train router=tiny with this reward (e.g. router=tiny env=router_r1 reward=router_r1)"
        )


def trainer_arguments(trainer_cfg: DictConfig) -> dict[str, Any]:
    """``conf/trainer`` as ``lightning.Trainer`` arguments; ``strategy: fsdp`` becomes FSDP2
    (``ModelParallelStrategy``, see xrouter/rl/fsdp.py) rather than Lightning's FSDP1 ``"fsdp"``."""
    arguments = to_plain(trainer_cfg)
    if arguments.get("strategy") == "fsdp":
        from xrouter.rl.fsdp import fsdp_strategy

        devices = arguments.get("devices", 1)
        if not isinstance(devices, int):
            raise ValueError(f"trainer=fsdp needs trainer.devices as a number of devices, not {devices!r}")
        arguments["strategy"] = fsdp_strategy(devices * int(arguments.get("num_nodes", 1)))
    return arguments


def build_logger(cfg: DictConfig, output_dir: Path):
    name = cfg.logger.name
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(output_dir), name="", version="")
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(
            save_dir=str(output_dir), project=cfg.logger.project, offline=cfg.logger.offline, config=to_plain(cfg)
        )
    raise ValueError(f"logger must be 'csv' or 'wandb', not '{name}'")


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    """The best dev reward is the job's return value: what a Hydra sweeper (Optuna, Ax) maximises."""
    fix_lambda_when_swept(cfg)
    return run_train(cfg).get("best_val_reward")


def fix_lambda_when_swept(cfg: DictConfig) -> None:
    """``-m reward.lam=0.5,1,2`` trains one router per lambda, as it says: in a multirun that sweeps ``reward.lam``
    and does not name ``reward.lam_sampling``, the recipe's lambda draws are turned off for each job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    overrides = [o.lstrip("+~") for o in HydraConfig.get().overrides.task]
    if (
        any(o.startswith("reward.lam=") for o in overrides)
        and not any(o.startswith("reward.lam_sampling") for o in overrides)
        and cfg.reward.get("lam_sampling") is not None
    ):
        with open_dict(cfg):
            cfg.reward.lam_sampling = None
        log.info(
            "reward.lam=%s is swept: this job trains for that lambda (reward.lam_sampling=null; name "
            "reward.lam_sampling to draw lambdas instead)",
            cfg.reward.lam,
        )


if __name__ == "__main__":
    main()
