"""The design study behind the routing head: a two-layer head over [query embedding, lambda features], trained
by group-relative policy gradient from bandit rewards alone, outside the LM (seconds per run).

It replays a pool's recorded table (``--pool``, RouterBench by default) but reads only the sampled model's outcome
per episode (bandit feedback), with the training recipe's reward ``s * (1 - min(lam * C, 0.8))`` (C in the pool's
cost unit, ``reward.cost_unit_usd: pool``: a cent on RouterBench) over lambdas drawn
as ``reward.lam_sampling`` draws them, and scores the greedy head on the seeded dev slice (``--eval dev``,
train minus that slice for training: how every setting here was chosen) or on test, at the training run's
``lam_grid``: AIQ over the single models' cost range, as ``xrouter.train`` reports it.

    .venv/bin/python experiments/rl_learning/head_probe.py --seeds 0 1 2 [--kl 0.2] [--epochs 3] [--steps 150] ...

Each flag is one of the candidates of experiments/rl_learning/README.md section 1 (features, regulariser,
epochs, group size, head form); the printed line is the mean dev (or test) AIQ over the seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from xrouter import metrics
from xrouter.data.embeddings import Embedder
from xrouter.data.splits import hash_fraction
from xrouter.policies.table import load_traces_for, pool_trace_models, route_table

GRID = [0, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 30]  # conf/train.yaml lam_grid
LAM_MAX = 30.0
VAL_LAMS = [0, 0.03, 0.3, 1, 3, 10]  # the recipe's data.val_lams
VAL_EVERY = 25  # rollouts between validations (trainer.val_check_interval)


def load(pool_name: str, data_dir: Path, cache_dir: Path) -> dict[str, np.ndarray]:
    from hydra import compose, initialize_config_dir

    from xrouter import CONF_DIR
    from xrouter.build.pools import build_pool
    from xrouter.config import to_plain
    from xrouter.reward.units import pool_cost_unit

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        pool = to_plain(compose("evaluate", overrides=[f"pool={pool_name}", "output_dir=unused"]).pool)
    traces = load_traces_for(pool, None, data_dir, cache_dir)
    names = pool_trace_models(pool, traces)
    train, test = route_table(traces, names, "train"), route_table(traces, names, "test")
    embed = Embedder(kind="minilm", max_tokens=96, cache_dir=cache_dir)  # router=tiny_encoder's encoder
    return {
        "x": embed.embed(train.prompts),
        "score": train.score,
        "cost": train.cost_usd,
        "ids": train.prompt_ids,
        "x_test": embed.embed(test.prompts),
        "score_test": test.score,
        "cost_test": test.cost_usd,
        "cost_unit": np.float64(pool_cost_unit(build_pool(pool, data_dir, cache_dir).price_pairs())),
    }


def lam_features(lam: np.ndarray, feature_set: str) -> np.ndarray:
    """xrouter/router/conditioning.py's feature sets, vectorised."""
    lam = np.asarray(lam, dtype=np.float64)
    base = [np.log1p(np.minimum(lam, LAM_MAX)) / np.log1p(LAM_MAX), (lam == 0).astype(float)]
    if feature_set == "log1p":
        return np.stack(base, 1)
    floor = LAM_MAX / 3000.0
    log_scale = np.where(lam == 0, 0.0, np.log(np.clip(lam, floor, LAM_MAX) / floor) / math.log(3000.0))
    return np.stack([log_scale] + base, 1)


class Head(torch.nn.Module):
    """``concat``: logits = MLP([x, s * f(lam)]); ``structured``: A(x, f) - lam * softplus(B(x, f))."""

    def __init__(self, dim: int, n_features: int, n_models: int, hidden: int, form: str, lam_scale: float) -> None:
        super().__init__()
        self.form, self.lam_scale = form, lam_scale
        out = 2 * n_models if form == "structured" else n_models
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + n_features, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, out),
        )

    def forward(self, x: torch.Tensor, features: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([x, features * self.lam_scale], 1))
        if self.form == "structured":
            m = out.shape[1] // 2
            return out[:, :m] - lam[:, None] * torch.nn.functional.softplus(out[:, m:])
        return out


def run(data: dict[str, np.ndarray], args: argparse.Namespace, seed: int) -> tuple[float, float, float]:
    """(AIQ, the single models' hull AIQ, seconds of training) for one seed."""
    torch.manual_seed(seed)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    dev = np.array([hash_fraction(str(i), seed) < 0.1 for i in data["ids"]])  # xrouter.train's dev slice
    x, score, cost = data["x"][~dev], data["score"][~dev], data["cost"][~dev]
    if args.eval == "dev":
        x_eval, score_eval, cost_eval = data["x"][dev], data["score"][dev], data["cost"][dev]
    else:
        x_eval, score_eval, cost_eval = data["x_test"], data["score_test"], data["cost_test"]
    n, m = score.shape
    n_features = lam_features(np.ones(1), args.features).shape[1]
    head = Head(x.shape[1], n_features, m, args.hidden, args.form, args.lam_scale)
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    x_t = torch.tensor(x, dtype=torch.float32)

    def draw(k: int) -> np.ndarray:
        log_lam = rng.uniform(np.log(args.lam_low), np.log(LAM_MAX), k)
        return np.where(rng.random(k) < args.zero_prob, 0.0, np.exp(log_lam))

    averaged = (
        torch.optim.swa_utils.AveragedModel(head, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema))
        if args.ema
        else None
    )
    total_updates = args.steps * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda update: 0.5 * (1 + math.cos(math.pi * update / total_updates)) if args.cosine else 1.0
    )

    def logits_of(rows: np.ndarray, lam: np.ndarray) -> torch.Tensor:
        return head(
            x_t[rows],
            torch.tensor(lam_features(lam, args.features), dtype=torch.float32),
            torch.tensor(lam, dtype=torch.float32),
        )

    def curve(lams_of_curve: list[float]) -> list[tuple[float, float, float]]:
        """(lambda, cost, accuracy) of the greedy head on the scored slice at each lambda."""
        points = []
        with torch.no_grad():
            x_eval_t = torch.tensor(x_eval, dtype=torch.float32)
            for lam in lams_of_curve:
                lams = np.full(len(x_eval), float(lam))
                choice = (
                    head(
                        x_eval_t,
                        torch.tensor(lam_features(lams, args.features), dtype=torch.float32),
                        torch.tensor(lams, dtype=torch.float32),
                    )
                    .argmax(1)
                    .numpy()
                )
                rows = np.arange(len(x_eval))
                points.append((float(lam), cost_eval[rows, choice].mean(), score_eval[rows, choice].mean()))
        return points

    def val_reward() -> float:
        """xrouter.train's checkpoint choice: the mean reward at the recipe's validation lambdas."""
        return float(np.mean([q * (1 - min(lam * c / data["cost_unit"], 0.8)) for lam, c, q in curve(VAL_LAMS)]))

    best = (val_reward(), {k: v.clone() for k, v in head.state_dict().items()}) if args.select == "reward" else None
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        prompts, lam = rng.choice(n, args.prompts, replace=False), draw(args.prompts)
        with torch.no_grad():
            logp = torch.log_softmax(logits_of(prompts, lam), 1)
            actions = torch.multinomial(logp.exp(), args.group, replacement=True, generator=generator)  # [P, G]
            old = logp.gather(1, actions)
        actions_np = actions.numpy()
        seen_score = score[prompts[:, None], actions_np]  # bandit feedback: the sampled models' outcomes only
        seen_cost = cost[prompts[:, None], actions_np]
        reward = seen_score * (1 - np.minimum(lam[:, None] * seen_cost / data["cost_unit"], 0.8))
        advantage = torch.tensor((reward - reward.mean(1, keepdims=True)).reshape(-1), dtype=torch.float32)
        rows, lam_rows = np.repeat(prompts, args.group), np.repeat(lam, args.group)
        actions_flat, old_flat = actions.reshape(-1), old.reshape(-1)
        for _ in range(args.epochs):
            logp = torch.log_softmax(logits_of(rows, lam_rows), 1)
            new = logp.gather(1, actions_flat[:, None]).squeeze(1)
            ratio = (new - old_flat).exp()
            surrogate = torch.minimum(ratio * advantage, ratio.clamp(0.8, 1.28) * advantage)
            to_uniform = -math.log(m) - new  # k3 estimator of KL(pi || uniform): the cold start's policy
            loss = -surrogate.mean() + args.kl * (to_uniform.exp() - to_uniform - 1).mean()
            if args.entropy:
                loss = loss + args.entropy * (logp.exp() * logp).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(head)
        if best is not None and step % VAL_EVERY == 0:
            reward_now = val_reward()
            if reward_now > best[0]:
                best = (reward_now, {k: v.clone() for k, v in head.state_dict().items()})
    seconds = time.perf_counter() - started
    if averaged is not None:
        head = averaged.module
    if best is not None:
        head.load_state_dict(best[1])
    points = [(c, q) for _, c, q in curve(args.grid)]
    singles = list(zip(cost_eval.mean(0), score_eval.mean(0)))
    span = (min(c for c, _ in singles), max(c for c, _ in singles))
    return metrics.aiq(points, span), metrics.aiq(singles, span), seconds


def arguments() -> argparse.ArgumentParser:
    """The probe's options; their defaults are the settings of section 1 (probe_compare.py starts from them)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pool", default="routerbench", help="a replay pool of conf/pool (its traces and prices)")
    parser.add_argument("--eval", choices=["dev", "test"], default="dev")
    parser.add_argument("--steps", type=int, default=150, help="rollouts")
    parser.add_argument("--prompts", type=int, default=64, help="prompts per rollout")
    parser.add_argument("--group", type=int, default=8, help="episodes per prompt")
    parser.add_argument("--epochs", type=int, default=3, help="clipped policy-gradient passes per rollout")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--kl", type=float, default=0.2, help="k3 KL to the uniform cold-start policy (0: none)")
    parser.add_argument("--entropy", type=float, default=0.0, help="entropy bonus (instead of or beside --kl)")
    parser.add_argument("--features", choices=["log", "log1p"], default="log")
    parser.add_argument("--lam-scale", type=float, default=3.0)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--form", choices=["concat", "structured"], default="concat")
    parser.add_argument("--lam-low", type=float, default=0.1, help="lambda drawn log-uniform from here to 30")
    parser.add_argument("--zero-prob", type=float, default=0.1, help="share of lambda draws that are 0")
    parser.add_argument("--grid", type=float, nargs="+", default=GRID, help="lambdas of the scored curve")
    parser.add_argument("--ema", type=float, default=0.0, help="score an EMA of the head's weights (decay; 0: off)")
    parser.add_argument("--cosine", action="store_true", help="cosine learning-rate decay to 0 over the run")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay")
    parser.add_argument(
        "--select",
        choices=["final", "reward"],
        default="final",
        help="score the final head, or the best by mean reward at VAL_LAMS on the scored slice every VAL_EVERY "
        "rollouts, step 0 included (xrouter.train's delivered checkpoint)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache"))
    return parser


def check_settings(args: argparse.Namespace) -> None:
    """Refuse settings that do not combine, before any work."""
    if args.ema and args.select == "reward":
        raise SystemExit("--ema scores the averaged head and --select reward a checkpoint of the raw one: pick one")


def main() -> None:
    args = arguments().parse_args()
    check_settings(args)
    import os

    torch.set_num_threads(args.threads)
    data_dir = args.data_dir or Path(os.environ.get("XROUTER_DATA_DIR", "data"))
    data = load(args.pool, data_dir, args.cache_dir)
    results = [run(data, args, seed) for seed in args.seeds]
    aiqs = [r[0] for r in results]
    print(
        f"{args.eval} AIQ mean {statistics.fmean(aiqs):.4f} ("
        + ", ".join(f"seed {s}: {a:.4f} / hull {h:.4f}" for s, (a, h, _) in zip(args.seeds, results))
        + f"); {statistics.fmean(r[2] for r in results):.1f} s per seed; "
        + " ".join(
            f"{k}={v}" for k, v in vars(args).items() if k not in ("seeds", "data_dir", "cache_dir", "threads", "grid")
        )
    )


if __name__ == "__main__":
    main()
