"""Running baseline policies: episode rows through the routing environment, or the replay fast path.

``env`` engine (any pool): each baseline decision becomes the router turn a router would write,
stepped through ``RouterEnv``: ``call_<model>`` in simple mode (one call, its answer is final:
termination ``simple_call``) or, for policies of several calls (cascade), in full mode with one
call per turn and a final ``select_response`` of the last answer.  So pool calls, the cost
ledger, scoring (a replayed answer's recorded score, else the benchmark's verifier) and the
reward are exactly the router's.

``replay`` engine (replay pools only): the same decisions, but each call is the replay endpoint's
recorded completion looked up directly (``ReplayEndpoint.lookup``, what ``ModelPool.call`` returns
there), charged to the same ledger with the same ``CallRecord``, scored by its recorded score and
rewarded by the same reward function, with the rows built without asyncio, parsing or ``Episode``
objects.  It exists for speed (sweeps, the >= 20,000 episodes/s target); ``tests/component/
test_evaluate.py`` checks that both engines give identical rows, summaries and ledgers for every
baseline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xrouter.env.episode import SELECT, SIMPLE_CALL
from xrouter.env.router_env import RouterEnv
from xrouter.evaluation.runfiles import episode_row
from xrouter.policies.base import Policy
from xrouter.pool.ledger import CallRecord
from xrouter.pool.pool import ModelPool
from xrouter.router.parsing import render_call, render_select

RECORDED_REASON = "recorded score of the replayed answer"


def episode_id_of(prefix: str, example: Mapping[str, Any]) -> str:
    return f"{prefix}{example['prompt_id']}"


def is_replay_pool(pool: ModelPool) -> bool:
    from xrouter.pool.replay import ReplayEndpoint

    return all(isinstance(e, ReplayEndpoint) for e in pool.endpoints.values())


class EnvEngine:
    """Baseline episodes stepped through ``RouterEnv`` (one batch of queries at a time)."""

    def __init__(
        self,
        pool: ModelPool,
        scorer: Callable,
        reward_fn: Callable,
        policy: Policy,
        system_prompt: str = "",
        call_max_tokens: int | None = None,
        episode_prefix: str = "",
    ) -> None:
        self.policy, self.system_prompt, self.prefix = policy, system_prompt, episode_prefix
        multi = policy.max_calls > 1
        self.env = RouterEnv(
            pool,
            scorer,
            reward_fn,
            mode="full" if multi else "simple",
            max_turns=policy.call_turns + 1 if multi else 1,
            tools_in_prompt="none",
            call_max_tokens=call_max_tokens,
        )
        self._loop = asyncio.new_event_loop()

    def close(self) -> None:
        """Close the live endpoints' connection pools on the loop they were opened on, then the loop."""
        if self._loop.is_closed():
            return
        for endpoint in self.env.pool.endpoints.values():
            if hasattr(endpoint, "aclose"):
                self._loop.run_until_complete(endpoint.aclose())
        self._loop.close()

    def run(self, examples: Sequence[Mapping[str, Any]], rows: Sequence[int]) -> list[dict[str, Any]]:
        episodes = [self.env.reset(examples[i], episode_id_of(self.prefix, examples[i])) for i in rows]
        texts = [self._turn(m) for m in self.policy.first(rows)]
        active = list(range(len(episodes)))
        while active:
            self._loop.run_until_complete(self.env.step([episodes[k] for k in active], [texts[k] for k in active]))
            active = [k for k in active if not episodes[k].done]
            if not active:
                break
            histories = [[(c.model, c.text if c.error is None else None) for c in episodes[k].calls] for k in active]
            wanted = self.policy.next([rows[k] for k in active], histories)
            stopping = []
            for k, model, history in zip(active, wanted, histories):
                if model is not None and len(episodes[k].turns) < self.policy.call_turns:
                    texts[k] = self._turn(model)
                elif any(text is not None for _, text in history):
                    stopping.append((k, history))
                else:
                    self.env.force_end(episodes[k], "error")
            if stopping:
                chosen = self.policy.select([rows[k] for k, _ in stopping], [h for _, h in stopping])
                for (k, _), model in zip(stopping, chosen):
                    texts[k] = render_select(model)
            active = [k for k in active if not episodes[k].done]
        return [episode_row(e) for e in episodes]

    def _turn(self, models: str | tuple[str, ...]) -> str:
        """The router turn that calls ``models`` (several: in parallel, one ``<tool_call>`` block each)."""
        return "\n".join(render_call(m, self.system_prompt) for m in ((models,) if isinstance(models, str) else models))


class ReplayEngine:
    """The replay fast path: identical rows, without the environment (see the module docstring)."""

    def __init__(self, pool: ModelPool, reward_fn: Callable, policy: Policy, episode_prefix: str = "") -> None:
        if not is_replay_pool(pool):
            raise ValueError(
                "engine=replay needs a replay pool (every endpoint replays recorded answers); use engine=env"
            )
        self.pool, self.reward_fn, self.policy, self.prefix = pool, reward_fn, policy, episode_prefix
        self.record = pool.ledger.record

    def close(self) -> None:
        pass

    def _call(self, model: str, example: Mapping[str, Any], episode_id: str):
        endpoint = self.pool.endpoint(model)
        prompt_id = example.get("pool_prompt_id", example["prompt_id"])
        completion = (
            endpoint.lookup(prompt_id=str(prompt_id))
            if prompt_id is not None
            else endpoint.lookup(prompt=str(example["prompt"]))
        )
        self.record(CallRecord.paid(model, completion, episode_id))
        return completion

    def run(self, examples: Sequence[Mapping[str, Any]], rows: Sequence[int]) -> list[dict[str, Any]]:
        multi = self.policy.max_calls > 1
        ids = [episode_id_of(self.prefix, examples[i]) for i in rows]
        turns = [[self._calls(m, examples[i], eid)] for m, i, eid in zip(self.policy.first(rows), rows, ids)]
        selected = [made[0][-1][0] for made in turns]
        if multi:
            active = list(range(len(rows)))
            while active:
                histories = [[(m, c.text) for turn in turns[k] for m, c in turn] for k in active]
                wanted = self.policy.next([rows[k] for k in active], histories)
                still, stopping = [], []
                for k, model, history in zip(active, wanted, histories):
                    if model is not None and len(turns[k]) < self.policy.call_turns:
                        turns[k].append(self._calls(model, examples[rows[k]], ids[k]))
                        still.append(k)
                    else:
                        stopping.append((k, history))
                if stopping:
                    chosen = self.policy.select([rows[k] for k, _ in stopping], [h for _, h in stopping])
                    for (k, _), model in zip(stopping, chosen):
                        selected[k] = model
                active = still
        out = []
        reward_fn = self.reward_fn
        for i, eid, made, pick in zip(rows, ids, turns, selected):
            example = examples[i]
            calls = [call for turn in made for call in turn]
            final = next(c for m, c in reversed(calls) if m == pick)
            tool_cost = sum(c.cost_usd for _, c in calls)
            score = float(final.recorded_score)
            reward = dict(vars(reward_fn(score, tool_cost, 0.0, valid_final=True)))  # = .as_dict(), without deepcopy
            names = [m for m, _ in calls]
            row = {
                "episode_id": eid,
                "prompt_id": str(example["prompt_id"]),
                "benchmark": example.get("benchmark"),
                "termination": SELECT if multi else SIMPLE_CALL,
                "final_source": f"call_{pick}",
                "final_answer": final.text,
                "score": score,
                "score_reason": RECORDED_REASON,
                "tool_cost_usd": tool_cost,
                "router_cost_usd": 0.0,
                "turns": len(made) + 1 if multi else 1,
                "n_calls": len(calls),
                "models_called": names,
                "n_malformed": 0,
                "strategy": "single" if len(set(names)) == 1 else "multi",
                **{f"reward_{k}": v for k, v in reward.items()},
                "latency_s": sum(max(c.latency_s for _, c in turn) for turn in made),
                "actions": [f"call_{m}" for m in names] + ([f"select_response(call_{pick})"] if multi else []),
                "call_costs_usd": [c.cost_usd for _, c in calls],
            }
            out.append(row)
        return out

    def _calls(
        self, models: str | tuple[str, ...], example: Mapping[str, Any], episode_id: str
    ) -> list[tuple[str, Any]]:
        """One turn: each of ``models`` called (a tuple: in parallel, in the env's order)."""
        return [(m, self._call(m, example, episode_id)) for m in ((models,) if isinstance(models, str) else models)]
