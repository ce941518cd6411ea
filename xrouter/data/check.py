"""``python -m xrouter.data.check dataset=<routellm_gsm8k|routerbench_mc|routerbench_mbpp>``.

Re-verifies every recorded answer of a routing dataset with our verifiers and compares the verdict
with the recorded correctness: a per-model agreement table, the disagreements by category with a
few examples each, and as the last line one JSON object ``{"n", "agreement", ...}``.

* routellm_gsm8k: RouteLLM graded with SGLang's rule, "the last run of digits in the response
  (commas removed) equals the last run of digits in the gold" (``routellm_grader_number``): it
  reads "$20.00" as 0 and "-15" as 15.  Each disagreement is put in a category that says which
  side is wrong; ``agreement_grader_fixed`` counts the grader's parsing artifacts as agreement.
* routerbench_mc: the gold letter was derived by the converter from the same recorded answers
  (majority letter of the responses scored correct), so agreement is partly circular; also given:
  agreement on prompts whose gold has the support of at least two models, and leave-one-out
  agreement (each answer judged against the gold derived from the *other* models only).
* routerbench_mbpp: the sanitized prompts do not name the function the tests call; agreement is
  given as is and with the answer's single top-level function aliased to the tests' entry point.

The check's datasets are not ``conf/dataset`` configs, but Hydra would read a ``dataset=`` override
as a choice in that config group; so the entry point composes ``conf/check.yaml`` (and
``conf/paths``) from Hydra's ConfigStore instead of the ``conf/`` directory.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, one_line_errors, to_plain
from xrouter.data.benchmarks import alias_entry_point
from xrouter.data.datasets import dataset_config, load_dataset
from xrouter.data.splits import hash_fraction
from xrouter.verify.base import Score
from xrouter.verify.choice import extract_choice
from xrouter.verify.code import mbpp_entry_point
from xrouter.verify.numeric import extract_number, gold_number
from xrouter.verify.registry import verify_many


# ----------------------------------------------------------------------------- data
def load_rows(
    check: Mapping[str, Any], data_dir: Path, cache_dir: Path | None, limit: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """The recorded answers a check re-verifies: its benchmarks, rows with gold (a seeded sample if
    ``limit``); and the number of its answers left out for want of gold."""
    traces = load_dataset(dataset_config(check["traces"]), data_dir, cache_dir=cache_dir)
    traces = traces[traces["benchmark"].isin(list(check["benchmarks"]))]
    no_gold = int(traces["gold"].isna().sum())
    rows = traces[traces["gold"].notna()]
    rows = rows.astype({"gold": object, "response": object, "prompt_id": object, "model": object})
    rows = rows.reset_index(drop=True)
    if limit:
        order = sorted(range(len(rows)), key=lambda i: hash_fraction(f"{rows.prompt_id[i]}|{rows.model[i]}", seed))
        rows = rows.iloc[sorted(order[: int(limit)])].reset_index(drop=True)
    return rows, no_gold


def examples(rows: pd.DataFrame, check: Mapping[str, Any]) -> list[dict]:
    letters = check.get("letters") or {}
    return [
        {"verifier": check["verifier"], "gold": g, **({"letters": letters[b]} if b in letters else {})}
        for g, b in zip(rows["gold"], rows["benchmark"])
    ]


# ----------------------------------------------------------------------------- categories
def routellm_grader_number(text: str | None) -> int | None:
    """RouteLLM's GSM8K rule (routellm/evals/gsm8k/generate_responses.py, from SGLang's bench):
    the last run of digits after removing commas, as an integer."""
    digits = re.findall(r"\d+", (text or "").replace(",", ""))
    return int(digits[-1]) if digits else None


def gsm8k_category(response: str, gold: str, recorded: float, ours: float) -> str:
    """Which side is wrong, and why, for one disagreement."""
    text = (response or "").replace(",", "")
    runs = list(re.finditer(r"\d+", text))
    said, gold_value = extract_number(response), gold_number(gold)
    if recorded == 0 and ours == 1:
        if runs and runs[-1].start() > 0 and text[runs[-1].start() - 1] in ".:":
            return "grader read the digits after a '.'/':' (\"$20.00\" -> 0, \"2:00 pm\" -> 0); ours right"
        return 'grader took a later number than the stated answer ("#### 7 packs and 2 extra" -> 2); ours right'
    if said is not None and said == -gold_value:
        return 'grader dropped the minus sign ("#### -54" read as 54); the answer\'s number is not the gold'
    if said is not None and str(routellm_grader_number(str(said))) == gold.strip():
        return 'grader dropped the decimal point ("#### 0.5" read as 5); the answer\'s number is not the gold'
    return "no '####'/'answer is' marker: our last-number fallback picked another number; ours wrong"


GRADER_ARTIFACT = ("grader read", "grader took", "grader dropped")


def mbpp_category(response: str, gold: str, recorded: float, score: Score) -> str:
    if recorded == 0:
        return "recorded wrong, passes the joined MBPP tests"
    entry = mbpp_entry_point(json.loads(gold)["test_list"])
    reason = score.reason
    if entry and f"name '{entry}' is not defined" in reason:
        return "answer names the function differently from the tests (prompt does not name it)"
    if "EOFError" in reason:
        return "answer reads stdin (input()) or runs a demo that does"
    if "SyntaxError" in reason or "IndentationError" in reason:
        return "no runnable code extracted (prose, pseudo-code or a broken block)"
    if reason in ("timeout", "no code found") or reason.startswith("killed"):
        return f"{reason}"
    if json.loads(gold).get("match") == "fuzzy":
        return "fails the tests of a fuzzily matched MBPP problem (gold may be a sibling task)"
    return "fails the joined MBPP tests (wrong output, other signature, other exception)"


def category(check_name: str, row: Mapping[str, Any], score: Score) -> str:
    recorded, ours = float(row["score"]), float(score.value)
    if check_name == "routellm_gsm8k":
        return gsm8k_category(row["response"], row["gold"], recorded, ours)
    if check_name == "routerbench_mbpp":
        return mbpp_category(row["response"], row["gold"], recorded, score)
    return f"recorded {recorded:g}, ours {ours:g}: {score.reason}"


# ----------------------------------------------------------------------------- agreement figures
def per_model(rows: pd.DataFrame, ours: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"model": rows["model"], "recorded": rows["score"].astype(float), "ours": ours})
    frame["agree"] = frame["recorded"] == frame["ours"]
    frame["ours_stricter"] = (frame["recorded"] == 1) & (frame["ours"] == 0)
    frame["ours_laxer"] = (frame["recorded"] == 0) & (frame["ours"] == 1)
    return frame.groupby("model").agg(
        n=("agree", "size"),
        recorded_acc=("recorded", "mean"),
        our_acc=("ours", "mean"),
        agreement=("agree", "mean"),
        ours_stricter=("ours_stricter", "sum"),
        ours_laxer=("ours_laxer", "sum"),
    )


def choice_support(rows: pd.DataFrame, check: Mapping[str, Any]) -> dict[str, Any]:
    """Circularity of the derived MC gold: support and leave-one-out agreement (see module docstring)."""
    letters = check.get("letters") or {}
    said = [extract_choice(r, letters.get(b, "ABCD")) for r, b in zip(rows["response"], rows["benchmark"])]
    rows = rows.assign(said=said)
    support, loo_hits, loo_n = {}, 0, 0
    for _, group in rows.groupby("prompt_id", sort=False):
        votes = Counter(s for s, sc in zip(group["said"], group["score"]) if sc == 1 and s)
        support[group["prompt_id"].iloc[0]] = votes.get(group["gold"].iloc[0], 0)
        for s, sc in zip(group["said"], group["score"]):
            others = votes.copy()
            if sc == 1 and s:
                others[s] -= 1
            others = +others
            if not others:
                continue
            loo_gold = others.most_common(1)[0][0]
            loo_n += 1
            loo_hits += (s == loo_gold) == (sc == 1)
    return {
        "support": rows["prompt_id"].map(support),
        "agreement_leave_one_out": loo_hits / max(1, loo_n),
        "n_leave_one_out": loo_n,
    }


def run_check(cfg: DictConfig) -> dict:
    name = str(cfg.dataset)
    checks = to_plain(cfg.checks)
    if name not in checks:
        raise ValueError(f"unknown check dataset={name!r}; known: {sorted(checks)}")
    check = checks[name]
    rows, no_gold = load_rows(check, data_dir_of(cfg), cfg.paths.cache_dir, cfg.get("limit"), int(cfg.get("seed", 0)))
    scores = verify_many(examples(rows, check), list(rows["response"]))
    ours = pd.Series([s.value for s in scores], index=rows.index)
    agree = ours == rows["score"].astype(float)
    result: dict[str, Any] = {
        "check": name,
        "n": int(len(rows)),
        "agreement": round(float(agree.mean()), 5),
        "n_without_gold": no_gold,
    }
    table = per_model(rows, ours)
    print(
        f"check dataset={name}: {len(rows)} recorded answers ({check['traces']}: {', '.join(check['benchmarks'])}), "
        f"verifier {check['verifier']}; {no_gold} more have no gold and are left out"
    )
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))
    categories = Counter(category(name, rows.iloc[i], scores[i]) for i in rows.index[~agree])
    print(f"\n{int((~agree).sum())} disagreements by category:")
    for text, count in categories.most_common():
        print(f"  {count:5d}  {text}")
        shown = [i for i in rows.index[~agree] if category(name, rows.iloc[i], scores[i]) == text][: int(cfg.show)]
        for i in shown:
            tail = " ".join(str(rows.response[i] or "")[-160:].split())
            print(
                f"         {rows.prompt_id[i]} {rows.model[i]} gold={str(rows.gold[i])[:40]!r} recorded="
                f"{rows.score[i]:g} ours={scores[i].value:g} ({scores[i].reason[:60]}) ...{tail}"
            )
    result["per_model"] = {m: round(float(r.agreement), 5) for m, r in table.iterrows()}
    result["categories"] = dict(categories.most_common())
    if name == "routellm_gsm8k":
        artifacts = sum(c for t, c in categories.items() if t.startswith(GRADER_ARTIFACT))
        result["agreement_grader_fixed"] = round(float(agree.sum() + artifacts) / len(rows), 5)
        rule = [
            (routellm_grader_number(r) == routellm_grader_number(g)) == (s == 1)
            for r, g, s in zip(rows["response"], rows["gold"], rows["score"])
        ]
        result["grader_rule_reproduces_labels"] = round(sum(rule) / len(rule), 5)
    elif name == "routerbench_mc":
        circ = choice_support(rows, check)
        strong = circ["support"] >= 2
        result["agreement_support2"] = round(float(agree[strong].mean()), 5)
        result["n_support2"] = int(strong.sum())
        result["agreement_leave_one_out"] = round(circ["agreement_leave_one_out"], 5)
        result["n_leave_one_out"] = circ["n_leave_one_out"]
        result["per_benchmark"] = {b: round(float(agree[rows.benchmark == b].mean()), 5) for b in check["benchmarks"]}
        print(
            "\nThe gold letter was derived from these same answers (majority letter of those scored correct): "
            f"agreement on prompts whose gold two or more models support {result['agreement_support2']:.4f} "
            f"(n={result['n_support2']}); leave-one-out (gold from the other models only) "
            f"{result['agreement_leave_one_out']:.4f} (n={result['n_leave_one_out']})."
        )
    elif name == "routerbench_mbpp":
        entries = [mbpp_entry_point(json.loads(g)["test_list"]) for g in rows["gold"]]
        aliased = [alias_entry_point(r, e) for r, e in zip(rows["response"], entries)]
        changed = [i for i, (a, r) in enumerate(zip(aliased, rows["response"])) if a != r]
        renamed = list(scores)
        for i, s in zip(
            changed, verify_many([examples(rows.iloc[[i]], check)[0] for i in changed], [aliased[i] for i in changed])
        ):
            renamed[i] = s
        ours_renamed = pd.Series([s.value for s in renamed], index=rows.index)
        agree_renamed = ours_renamed == rows["score"].astype(float)
        result["agreement_renamed"] = round(float(agree_renamed.mean()), 5)
        result["n_renamed"] = len(changed)
        result["per_model_renamed"] = {
            m: round(float(r.agreement), 5) for m, r in per_model(rows, ours_renamed).iterrows()
        }
        result["categories_renamed"] = dict(
            Counter(category(name, rows.iloc[i], renamed[i]) for i in rows.index[~agree_renamed]).most_common()
        )
        exact = rows["gold"].map(lambda g: json.loads(g).get("match") == "exact")
        result["n_exact_match"] = int(exact.sum())
        result["agreement_exact_match"] = round(float(agree[exact].mean()), 5) if exact.any() else None
        result["agreement_renamed_exact_match"] = round(float(agree_renamed[exact].mean()), 5) if exact.any() else None
        print(
            f"\nWith the answer's single top-level function aliased to the tests' entry point ({len(changed)} "
            f"answers changed): agreement {result['agreement_renamed']:.4f}; disagreements by category:"
        )
        for text, count in result["categories_renamed"].items():
            print(f"  {count:5d}  {text}")
        print(
            f"On the {result['n_exact_match']} answers whose prompt matched an MBPP problem exactly: agreement "
            f"{result['agreement_exact_match']} as is, {result['agreement_renamed_exact_match']} aliased."
        )
    print(json.dumps(result))
    return result


# ----------------------------------------------------------------------------- entry point
def register_configs() -> None:
    """``check`` and ``paths/check_default`` in Hydra's ConfigStore (read from conf/, the source of truth).

    The paths config is stored under its own name: stored as ``paths/default`` it would shadow the
    conf/ file of that name for every later compose in the same process."""
    store = ConfigStore.instance()
    store.store(name="check", node=OmegaConf.load(CONF_DIR / "check.yaml"))
    store.store(group="paths", name="check_default", node=OmegaConf.load(CONF_DIR / "paths" / "default.yaml"))


def compose_check(overrides: list[str] | None = None) -> DictConfig:
    """The check's config as the command line composes it (for tests and notebooks)."""
    from hydra import compose, initialize

    import xrouter.config  # noqa: F401  (registers resolvers)

    register_configs()
    with initialize(version_base="1.3", config_path=None):
        return compose("check", overrides=overrides or [])


@hydra.main(config_path=None, config_name="check", version_base="1.3")
@one_line_errors
def _main(cfg: DictConfig) -> None:
    run_check(cfg)


def main() -> None:
    register_configs()
    _main()


if __name__ == "__main__":
    main()
