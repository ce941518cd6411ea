"""``python -m xrouter.train``: cold start + GRPO/DAPO training of a router, then test evaluation.

With no overrides: the tiny router on the RouterBench replay pool, on CPU, in minutes; at the end
the trained router is evaluated (greedy) on the test split beside every single model and the
oracle.  ``-m reward.lam=0,1,3,10`` makes one run directory per lambda.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, one_line_errors, quiet_logs, to_plain

log = logging.getLogger(__name__)


def resolve_output_dir(cfg: DictConfig) -> Path:
    if cfg.get("output_dir"):
        return Path(cfg.output_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def cold_start_teacher(cfg: DictConfig, run, data_dir: Path, cache_dir: Path):
    """The cold start's teacher (``cold_start.weighting=teacher``): ``cold_start.teacher`` (conf/policy/<name>.yaml)
    fitted on the training prompts outside the dev slice; None for the other weightings."""
    if str(cfg.cold_start.get("weighting", "uniform")) != "teacher":
        return None
    from xrouter.eval.baseline_policy import policy_context
    from xrouter.policies.teacher import fit_teacher

    name = str(cfg.cold_start.get("teacher") or "")
    path = Path(CONF_DIR) / "policy" / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"cold_start.teacher={name!r}: no conf/policy/{name}.yaml; use knn, mlp or agreement")
    policy_cfg = OmegaConf.load(path)
    context_cfg = OmegaConf.create({"pool": cfg.pool, "policy": policy_cfg, "reward": cfg.reward, "seed": cfg.seed,
                                    "embedding": cfg.get("embedding")})
    ctx = policy_context(context_cfg, run.pool, data_dir, cache_dir)
    teacher = fit_teacher(to_plain(policy_cfg), ctx, run.train, {str(e["prompt_id"]) for e in run.dev},
                          float(cfg.reward.get("lam") or 0.0), escalation=cfg.cold_start.get("escalation"),
                          reward_cfg=to_plain(cfg.reward))
    log.info("cold start teacher: %s, fitted on %d train prompts outside the dev slice", teacher.label,
             len(run.train))
    return teacher


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """Train, save ``<output_dir>/router``, evaluate on the test split; returns the test summary."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from xrouter.build import build_run, load_examples, save_router
    from xrouter.eval.spend import SpendMeter, format_spend, full_table_cost
    from xrouter.rl.checkpoints import StartingPoint, validation_examples
    from xrouter.eval.router_run import evaluate_router, print_comparison
    from xrouter.rl.cold_start import cold_start
    from xrouter.rl.datamodule import PromptDataModule
    from xrouter.rl.distributed import end_distributed_job, job_output_dir_for_children, launch_rank, local_cuda_device
    from xrouter.rl.fsdp import full_state_dict, is_sharded, unsharded_copy
    from xrouter.rl.module import RouterRLModule
    from xrouter.rl.progress import StepProgressBar
    from xrouter.reward.lam_sampling import LamSampling

    quiet_logs()
    check_train_config(cfg)
    if cfg.trainer.get("strategy") == "fsdp" and cfg.rollout.backend == "vllm":
        raise ValueError("trainer=fsdp with rollout=vllm is not supported yet (the engine would need the gathered "
                         "weights after every step): use rollout=hf with trainer=fsdp, or trainer=ddp with rollout=vllm")
    output_dir = resolve_output_dir(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    on_gpu = cfg.trainer.accelerator in ("gpu", "cuda") and torch.cuda.is_available()
    device = local_cuda_device() if on_gpu else "cpu"  # cuda:<local rank> under DDP

    lam_sampling = LamSampling.from_config(to_plain(cfg.reward.get("lam_sampling")))  # checked above
    run = build_run(cfg, device=device)
    pool, model, loop, train, dev = run.pool, run.model, run.loop, run.train, run.dev
    log.info("router: %.2fM parameters; %d train / %d dev prompts; pool %s (%d models)",
             sum(p.numel() for p in model.parameters()) / 1e6, len(train), len(dev), cfg.pool.name, len(pool.names))

    meter = SpendMeter(pool.ledger)
    if cfg.cold_start.steps > 0 and not cfg.get("ckpt_path"):
        teacher = cold_start_teacher(cfg, run, data_dir, cache_dir)
        cold_start(model, loop, train, pool.names, steps=cfg.cold_start.steps, batch_size=cfg.cold_start.batch_size,
                   lr=cfg.cold_start.lr, micro_batch_size=cfg.rollout.micro_batch_size, seed=cfg.seed, device=device,
                   system_prompt=None if cfg.cold_start.arguments == "none" else "",
                   warmup_steps=cfg.cold_start.warmup_steps, weighting=str(cfg.cold_start.get("weighting", "uniform")),
                   temperature=float(cfg.cold_start.get("temperature", 0.1)),
                   lam_sampling=lam_sampling, teacher=teacher)

    meter.mark("cold_start")
    dev = validation_examples(dev, cfg, loop)
    step0 = StartingPoint(output_dir / "step0")
    if dev and not cfg.get("ckpt_path") and launch_rank() == 0:  # the starting point, for "did RL improve it?"
        dev_before = evaluate_router(loop, dev, output_dir / "eval_dev_before_rl", cfg.rollout.max_new_tokens)
        log.info("dev before RL: accuracy %.3f, cost/query $%.2e, reward %.3f", dev_before["accuracy"],
                 dev_before["cost_per_query"], dev_before["reward"])
        step0.save(model, dev_before)  # the cold-start router competes with RL's checkpoints (step 0)
    meter.mark("dev_before_rl")

    datamodule = PromptDataModule(train, dev, cfg.data.prompts_per_step, cfg.data.val_batch_size, cfg.seed)
    module = RouterRLModule(model, loop, to_plain(cfg.algo), to_plain(cfg.rollout), refill=datamodule.refill_sampler(),
                            lam_sampling=lam_sampling, seed=cfg.seed)
    checkpoints = ModelCheckpoint(dirpath=output_dir / "checkpoints", monitor="val_reward", mode="max",
                                  filename="step{step}-reward{val_reward:.3f}", auto_insert_metric_name=False)
    # last.ckpt at every validation, for resume.  Not ``save_last=True`` above: Lightning only
    # refreshes that one when a new best is saved, so a run resumed from it would restart at the best step.
    latest = ModelCheckpoint(dirpath=output_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    job_output_dir_for_children(output_dir)  # DDP ranks 1..N-1 join this output dir (also under -m)
    callbacks = [checkpoints, latest] + ([StepProgressBar()] if cfg.trainer.get("enable_progress_bar", True) else [])
    trainer = L.Trainer(**trainer_arguments(cfg.trainer), logger=build_logger(cfg, output_dir), callbacks=callbacks,
                        default_root_dir=str(output_dir))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    if is_sharded(model):  # trainer=fsdp: rank 0 goes on with an unsharded copy of the final weights
        final_state = full_state_dict(model)  # a collective: every rank takes part
        if trainer.is_global_zero:
            model = unsharded_copy(model, final_state, device)
            module.model = loop.generator.model = run.model = model
    end_distributed_job()  # a -m sweep's next job in this process starts clean
    meter.mark("rl_rollouts", {"val": "validation"})
    if not trainer.is_global_zero:  # rank 0 alone saves and evaluates
        loop.close()
        return {"output_dir": str(output_dir), "global_step": trainer.global_step, "rank": trainer.global_rank}

    delivered = step0.choose(checkpoints.best_model_path, checkpoints.best_model_score)
    state = torch.load(delivered["checkpoint"], map_location=device, weights_only=False)["state_dict"] \
        if delivered["checkpoint"] else {}
    if state:
        model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    log.info("delivered: %s (dev reward %s; RL changed dev reward by %s)", delivered["checkpoint"] or "the last weights",
             delivered["dev_reward"], delivered["rl_change"])
    router_dir = save_router(run, output_dir / "router")
    calibrate(cfg, run, output_dir, router_dir)
    pool.ledger.save(output_dir / "ledger.jsonl")
    spend = meter.report(["cold_start", "rl_rollouts"],
                         full_table_cost(to_plain(cfg.pool), [str(e["prompt_id"]) for e in train], data_dir, cache_dir))

    result: dict[str, Any] = {"output_dir": str(output_dir), "router": str(router_dir),
                              "initial_router": run.settings.initial_router,
                              "best_checkpoint": checkpoints.best_model_path, "global_step": trainer.global_step,
                              "dev_before_rl": step0.summary, "delivered": delivered, "spend": spend,
                              "threads": torch.get_num_threads(),
                              "best_val_reward": delivered["dev_reward"]}
    if cfg.get("evaluate_test", True):
        test = load_examples(cfg, cfg.data.test_split, cfg.data.get("test_max"))
        knob = run.settings.knob  # the reward's cost weight: the sweep's coordinate
        action_format = run.settings.action_format  # a Router-R1-format run is a curve of its own
        label = " ".join(["xrouter", str(cfg.router.name)] + ([action_format] if action_format != "tool_calls" else [])
                         + [f"{k}={v}" for k, v in knob.items()])
        summary = evaluate_router(loop, test, output_dir / f"eval_{cfg.data.test_split}",
                                  max_new_tokens=cfg.rollout.max_new_tokens, policy="router", label=label, knob=knob,
                                  benchmark=cfg.benchmark.name, pool=cfg.pool.name, split=cfg.data.test_split,
                                  config_yaml=OmegaConf.to_yaml(cfg, resolve=True))
        result["test"] = summary
        print_comparison(summary, cfg, data_dir, cache_dir)
        if cfg.get("lam_grid") and loop.conditioner is not None and loop.conditioner.spec.lam_conditioned:
            result["test_curve"] = test_curves(cfg, run, test, output_dir, label)
    print(format_spend(spend))
    print(f"delivered: {delivered['label']}")
    print(f"checkpoints: {output_dir / 'checkpoints'}\nrouter: {router_dir}\nmetrics: {output_dir / 'metrics.csv'}")
    if "test" in result:
        print(f"episodes: {output_dir / ('eval_' + cfg.data.test_split) / 'episodes.parquet'}")
    (output_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    loop.close()
    return result


def calibrate(cfg: DictConfig, run, output_dir: Path, router_dir: Path) -> None:
    """A lambda-conditioned router's dev curve over ``lam_grid``, saved as ``<router>/calibration.json`` (what the
    server turns a request's ``max_cost_per_query`` into a lambda with: ``xrouter/router/calibration.py``)."""
    from xrouter.eval.router_sweep import evaluate_lam_grid
    from xrouter.router.calibration import calibration_points, save_calibration

    conditioner = run.loop.conditioner
    if not run.dev or not cfg.get("lam_grid") or conditioner is None or not conditioner.spec.lam_conditioned:
        return
    curve = evaluate_lam_grid(run.loop, run.dev, output_dir / "eval_dev_curve", list(cfg.lam_grid),
                              cfg.rollout.max_new_tokens, label="calibration", reference=None, policy="router",
                              benchmark=cfg.benchmark.name, pool=cfg.pool.name, split="dev")
    save_calibration(router_dir, calibration_points(curve), f"dev slice of seed {cfg.seed} ({len(run.dev)} prompts), "
                     f"{output_dir / 'eval_dev_curve'}")


def test_curves(cfg: DictConfig, run, test: list[dict[str, Any]], output_dir: Path, label: str) -> dict[str, Any]:
    """The one checkpoint's curve over ``lam_grid`` on test, beside the ``compare_baselines`` sweeps."""
    from xrouter.eval.router_sweep import baseline_curves, evaluate_lam_grid, print_curves, router_reference

    split = cfg.data.test_split
    curve = evaluate_lam_grid(run.loop, test, output_dir / f"eval_{split}_curve", list(cfg.lam_grid),
                              cfg.rollout.max_new_tokens, label=label.split(" lam=")[0],
                              reference=router_reference(cfg, run.pool, test), policy="router",
                              benchmark=cfg.benchmark.name, pool=cfg.pool.name, split=split)
    curves = {"xrouter (one ckpt)": curve}
    if cfg.get("compare_baselines") and cfg.pool.get("kind") == "replay":
        curves.update(baseline_curves(cfg, list(cfg.compare_baselines), split, test,
                                      output_dir / f"eval_{split}_baselines", run.pool))
    print(f"\none checkpoint over lambda = {list(cfg.lam_grid)} on {cfg.benchmark.name} {split} "
          "(accuracy@USD per query):")
    print_curves(curves)
    return {name: {k: c.get(k) for k in ("aiq", "aiq_single_model_range", "zero_router_aiq")} for name, c in curves.items()}


def check_train_config(cfg: DictConfig) -> None:
    """Fail before any work, with one line naming the key and its allowed values."""
    from xrouter.config import require
    from xrouter.reward.lam_sampling import LamSampling
    from xrouter.rl.algo_config import AlgoConfig

    AlgoConfig.from_config(to_plain(cfg.algo))
    require(cfg, "trainer.max_steps", int, lambda v: v > 0, "a positive integer (optimizer steps)")
    require(cfg, "cold_start.steps", int, lambda v: v >= 0, "an integer >= 0 (0: no cold start)")
    require(cfg, "cold_start.batch_size", int, lambda v: v > 0, "a positive integer")
    if cfg.cold_start.get("escalation") is not None and (cfg.env.mode != "full" or
                                                         cfg.cold_start.get("weighting") != "teacher"):
        raise ValueError(f"cold_start.escalation={cfg.cold_start.escalation} scripts a teacher's second call after "
                         f"reading the first answer: it needs env=full and cold_start.weighting=teacher (got "
                         f"env.mode={cfg.env.mode}, weighting={cfg.cold_start.get('weighting')})")
    require(cfg, "data.prompts_per_step", int, lambda v: v > 0, "a positive integer")
    require(cfg, "data.val_batch_size", int, lambda v: v > 0, "a positive integer")
    require(cfg, "data.dev_fraction", float, lambda v: 0 <= v < 1, "a number in [0, 1)")
    require(cfg, "rollout.group_size", int, lambda v: v > 0, "a positive integer (episodes per prompt)")
    require(cfg, "rollout.max_new_tokens", int, lambda v: v > 0, "a positive integer")
    for knob in ("lam", "alpha"):
        if knob in cfg.reward:
            require(cfg, f"reward.{knob}", float, lambda v: v >= 0, "a number >= 0")
    if cfg.get("recipe_name") == "rl_only" and cfg.router.kind != "tiny_encoder":
        raise ValueError(f"recipe=rl_only (the default) learns the routing in router=tiny_encoder's routing head, which "
                         f"router={cfg.router.name} has not: add recipe=text_only (its own cold start and RL over the "
                         "whole LM at one reward.lam) or recipe=teacher")
    sampling = LamSampling.from_config(to_plain(cfg.reward.get("lam_sampling")))
    if sampling is not None and cfg.router.kind != "tiny_encoder":
        log.warning("router=%s is not told lambda: trained over reward.lam_sampling's draws it learns one policy for "
                    "their mix (reward.lam_sampling=null trains it for reward.lam; router=tiny_encoder reads lambda)",
                    cfg.router.name)
    if sampling is not None and cfg.reward.name != "xrouter":
        raise ValueError(f"reward.lam_sampling needs reward=xrouter (its lam is what is drawn), not "
                         f"reward={cfg.reward.get('name')}, which has none: router=tiny_encoder draws lambda by default; "
                         "train router=tiny with this reward (e.g. router=tiny env=router_r1 reward=router_r1)")


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

        return WandbLogger(save_dir=str(output_dir), project=cfg.logger.project, offline=cfg.logger.offline,
                           config=to_plain(cfg))
    raise ValueError(f"logger must be 'csv' or 'wandb', not '{name}'")


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
@one_line_errors
def main(cfg: DictConfig) -> float | None:
    """The best dev reward is the job's return value: what a Hydra sweeper (Optuna, Ax) maximises."""
    return run_train(cfg).get("best_val_reward")


if __name__ == "__main__":
    main()
