"""The steps of ``xrouter.train``'s recipe, each with explicit inputs: prepare the run directory, warm-start the
router (cold start, with a fitted teacher when asked), measure the starting point, fit GRPO/DAPO with Lightning,
deliver the best checkpoint, calibrate, and evaluate on test.  ``xrouter/train.py`` reads as the recipe."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter.config import data_dir_of, output_dir_of, to_plain

log = logging.getLogger("xrouter.train")


def prepare_run(cfg: DictConfig) -> Path:
    """The output directory with the resolved ``config.yaml``; seeds and the fixed CPU thread count set."""
    import lightning as L
    import torch

    output_dir = output_dir_of(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    return output_dir


def run_device(cfg: DictConfig) -> str:
    """``cuda:<local rank>`` on a GPU trainer (one per DDP rank), else ``cpu``."""
    import torch

    from xrouter.rl.distributed import local_cuda_device

    on_gpu = cfg.trainer.accelerator in ("gpu", "cuda") and torch.cuda.is_available()
    return local_cuda_device() if on_gpu else "cpu"


def lam_sampling_of(cfg: DictConfig):
    from xrouter.reward.lam_sampling import LamSampling

    return LamSampling.from_config(to_plain(cfg.reward.get("lam_sampling")))


def cold_start_teacher(cfg: DictConfig, run):
    """The cold start's teacher (``cold_start.weighting=teacher``): the composed ``teacher`` group (conf/teacher/,
    a baseline policy's config) fitted on the training prompts outside the dev slice; None for other weightings."""
    if str(cfg.cold_start.get("weighting", "uniform")) != "teacher":
        return None
    from xrouter.evaluation.baseline_policy import policy_context
    from xrouter.policies.teacher import fit_teacher

    policy_cfg = cfg.get("teacher")
    if policy_cfg is None:
        raise ValueError(
            "cold_start.weighting=teacher needs a fitted teacher: add teacher=mlp (or knn, agreement; conf/teacher/), "
            "or use recipe=teacher, which selects one"
        )
    context_cfg = OmegaConf.create(
        {
            "pool": cfg.pool,
            "policy": policy_cfg,
            "reward": cfg.reward,
            "seed": cfg.seed,
            "embedding": cfg.get("embedding"),
        }
    )
    ctx = policy_context(context_cfg, run.pool, data_dir_of(cfg), Path(cfg.paths.cache_dir))
    teacher = fit_teacher(
        to_plain(policy_cfg),
        ctx,
        run.train,
        {str(e["prompt_id"]) for e in run.dev},
        float(cfg.reward.get("lam") or 0.0),
        escalation=cfg.cold_start.get("escalation"),
        reward_cfg=to_plain(cfg.reward),
    )
    log.info("cold start teacher: %s, fitted on %d train prompts outside the dev slice", teacher.label, len(run.train))
    return teacher


def warm_start(cfg: DictConfig, run, device: str) -> None:
    """``cold_start.steps`` supervised steps on scripted trajectories (none when resuming)."""
    from xrouter.rl.cold_start import cold_start

    if run.loop.conditioner is not None:
        run.loop.conditioner.embed_ahead([*run.train, *run.dev])
    if cfg.cold_start.steps <= 0 or cfg.get("ckpt_path"):
        return
    cold_start(
        run.model,
        run.loop,
        run.train,
        run.pool.names,
        steps=cfg.cold_start.steps,
        batch_size=cfg.cold_start.batch_size,
        lr=cfg.cold_start.lr,
        micro_batch_size=cfg.rollout.micro_batch_size,
        seed=cfg.seed,
        device=device,
        system_prompt=None if cfg.cold_start.arguments == "none" else "",
        warmup_steps=cfg.cold_start.warmup_steps,
        weighting=str(cfg.cold_start.get("weighting", "uniform")),
        temperature=float(cfg.cold_start.get("temperature", 0.1)),
        lam_sampling=lam_sampling_of(cfg),
        teacher=cold_start_teacher(cfg, run),
    )


def starting_point(cfg: DictConfig, run, output_dir: Path):
    """The warm-started router on the dev slice as validation sees it (replicated over ``data.val_lams``), saved as
    step 0 so that it competes with RL's checkpoints ("did RL improve it?"); returns it and those examples."""
    from xrouter.evaluation.router_run import evaluate_router
    from xrouter.rl.checkpoints import StartingPoint, validation_examples
    from xrouter.rl.distributed import launch_rank

    validation = validation_examples(run.dev, cfg, run.loop)
    step0 = StartingPoint(output_dir / "step0")
    if validation and not cfg.get("ckpt_path") and launch_rank() == 0:
        before = evaluate_router(run.loop, validation, output_dir / "eval_dev_before_rl", cfg.rollout.max_new_tokens)
        log.info(
            "dev before RL: accuracy %.3f, cost/query $%.2e, reward %.3f",
            before["accuracy"],
            before["cost_per_query"],
            before["reward"],
        )
        step0.save(run.model, before)
    return step0, validation


def fit(cfg: DictConfig, run, validation: list, output_dir: Path, device: str, trainer_arguments: dict, logger):
    """GRPO/DAPO in a Lightning ``Trainer``; returns it and the best-checkpoint callback.  Under FSDP, rank 0 goes on
    with an unsharded copy of the final weights."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from xrouter.rl.datamodule import PromptDataModule
    from xrouter.rl.distributed import end_distributed_job, job_output_dir_for_children
    from xrouter.rl.fsdp import full_state_dict, is_sharded, unsharded_copy
    from xrouter.rl.module import RouterRLModule
    from xrouter.rl.progress import StepProgressBar

    datamodule = PromptDataModule(run.train, validation, cfg.data.prompts_per_step, cfg.data.val_batch_size, cfg.seed)
    module = RouterRLModule(
        run.model,
        run.loop,
        to_plain(cfg.algo),
        to_plain(cfg.rollout),
        refill=datamodule.refill_sampler(),
        lam_sampling=lam_sampling_of(cfg),
        seed=cfg.seed,
    )
    checkpoints = ModelCheckpoint(
        dirpath=output_dir / "checkpoints",
        monitor="val_reward",
        mode="max",
        filename="step{step}-reward{val_reward:.3f}",
        auto_insert_metric_name=False,
    )
    # last.ckpt at every validation, for resume.  Not ``save_last=True`` above: Lightning only
    # refreshes that one when a new best is saved, so a run resumed from it would restart at the best step.
    latest = ModelCheckpoint(
        dirpath=output_dir / "checkpoints", filename="last", monitor=None, save_top_k=1, enable_version_counter=False
    )
    job_output_dir_for_children(output_dir)  # DDP ranks 1..N-1 join this output dir (also under -m)
    callbacks = [checkpoints, latest] + ([StepProgressBar()] if cfg.trainer.get("enable_progress_bar", True) else [])
    trainer = L.Trainer(**trainer_arguments, logger=logger, callbacks=callbacks, default_root_dir=str(output_dir))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    if is_sharded(run.model):
        final_state = full_state_dict(run.model)  # a collective: every rank takes part
        if trainer.is_global_zero:
            run.model = unsharded_copy(run.model, final_state, device)
            module.model = run.loop.generator.model = run.model
    end_distributed_job()  # a -m sweep's next job in this process starts clean
    return trainer, checkpoints


def describe(cfg: DictConfig, run) -> None:
    log.info(
        "router: %.2fM parameters; %d train / %d dev prompts; pool %s (%d models)",
        sum(p.numel() for p in run.model.parameters()) / 1e6,
        len(run.train),
        len(run.dev),
        cfg.pool.name,
        len(run.pool.names),
    )


def deliver(cfg: DictConfig, run, step0, checkpoints, global_step: int, device: str, output_dir: Path, meter):
    """Load the delivered weights (the best dev reward among step 0 and RL's checkpoints; a tie keeps step 0), save
    them as ``<output_dir>/router`` with its calibration and the ledger; returns the run's result so far: what was
    delivered and what the training calls cost beside the full table a teacher needs."""
    import torch

    from xrouter.build import save_router
    from xrouter.evaluation.spend import full_table_cost

    delivered = step0.choose(checkpoints.best_model_path, checkpoints.best_model_score)
    if delivered["checkpoint"]:
        state = torch.load(delivered["checkpoint"], map_location=device, weights_only=False)["state_dict"]
        run.model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    log.info(
        "delivered: %s (dev reward %s; RL changed dev reward by %s)",
        delivered["checkpoint"] or "the last weights",
        delivered["dev_reward"],
        delivered["rl_change"],
    )
    router_dir = save_router(run, output_dir / "router")
    calibrate(cfg, run, output_dir, router_dir)
    run.pool.ledger.save(output_dir / "ledger.jsonl")
    train_ids = [str(e["prompt_id"]) for e in run.train]
    table = full_table_cost(to_plain(cfg.pool), train_ids, data_dir_of(cfg), Path(cfg.paths.cache_dir))
    return {
        "output_dir": str(output_dir),
        "router": str(router_dir),
        "initial_router": run.settings.initial_router,
        "best_checkpoint": checkpoints.best_model_path,
        "global_step": global_step,
        "dev_before_rl": step0.summary,
        "delivered": delivered,
        "spend": meter.report(["cold_start", "rl_rollouts"], table),
        "best_val_reward": delivered["dev_reward"],
    }


def lam_conditioned(run) -> bool:
    return run.loop.conditioner is not None and run.loop.conditioner.spec.lam_conditioned


def calibrate(cfg: DictConfig, run, output_dir: Path, router_dir: Path) -> None:
    """A lambda-conditioned router's dev curve over ``lam_grid``, saved as ``<router>/calibration.json`` (what the
    server turns a request's ``max_cost_per_query`` into a lambda with: ``xrouter/router/calibration.py``)."""
    from xrouter.evaluation.router_sweep import evaluate_lam_grid
    from xrouter.router.calibration import calibration_points, save_calibration

    if not run.dev or not cfg.get("lam_grid") or not lam_conditioned(run):
        return
    curve = evaluate_lam_grid(
        run.loop,
        run.dev,
        output_dir / "eval_dev_curve",
        list(cfg.lam_grid),
        cfg.rollout.max_new_tokens,
        label="calibration",
        reference=None,
        policy="router",
        benchmark=cfg.benchmark.name,
        pool=cfg.pool.name,
        split="dev",
    )
    save_calibration(
        router_dir,
        calibration_points(curve),
        f"dev slice of seed {cfg.seed} ({len(run.dev)} prompts), {output_dir / 'eval_dev_curve'}",
    )


def evaluate_on_test(cfg: DictConfig, run, output_dir: Path) -> dict[str, Any]:
    """The delivered router at its knob on the test split, beside every single model and the oracle; a
    lambda-conditioned router also swept over ``lam_grid`` beside the sweeps of ``baselines`` (conf/baselines/)."""
    from xrouter.build import load_examples
    from xrouter.evaluation.router_run import evaluate_router, print_comparison
    from xrouter.evaluation.router_sweep import test_curves

    split = cfg.data.test_split
    test = load_examples(cfg, split, cfg.data.get("test_max"))
    knob, action_format = run.settings.knob, run.settings.action_format  # a Router-R1-format run is its own curve
    label = " ".join(
        ["xrouter", str(cfg.router.name)]
        + ([action_format] if action_format != "tool_calls" else [])
        + [f"{k}={v}" for k, v in knob.items()]
    )
    summary = evaluate_router(
        run.loop,
        test,
        output_dir / f"eval_{split}",
        max_new_tokens=cfg.rollout.max_new_tokens,
        policy="router",
        label=label,
        knob=knob,
        benchmark=cfg.benchmark.name,
        pool=cfg.pool.name,
        split=split,
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
    )
    print_comparison(summary, cfg, data_dir_of(cfg), Path(cfg.paths.cache_dir))
    result: dict[str, Any] = {"test": summary}
    if cfg.get("lam_grid") and lam_conditioned(run):
        result["test_curve"] = test_curves(cfg, run.loop, run.pool, test, output_dir, label)
    return result


def finish(result: dict[str, Any], cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Print where everything is, write ``result.json``."""
    from xrouter.evaluation.spend import format_spend

    print(format_spend(result["spend"]))
    print(f"delivered: {result['delivered']['label']}")
    print(
        f"checkpoints: {output_dir / 'checkpoints'}\nrouter: {result['router']}\nmetrics: {output_dir / 'metrics.csv'}"
    )
    if "test" in result:
        print(f"episodes: {output_dir / ('eval_' + cfg.data.test_split) / 'episodes.parquet'}")
    if "test_curve" in result:
        from analysis.run_figure import run_figure

        try:  # drawn from the files just written; a plotting error loses nothing (python -m analysis.run_figure)
            result["figure"] = str(run_figure(output_dir, cfg.data.test_split))
        except Exception as error:
            log.warning("no Pareto figure: %s (the run's files are complete)", error)
    (output_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    if result.get("figure"):
        print(f"figure: {result['figure']}   (the router's curve, kNN, MLP, the single models, the oracle)")
    return result
