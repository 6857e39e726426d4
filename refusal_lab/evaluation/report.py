"""Evaluation of a trained run: the one owner of the scores table (scores.csv), the
threshold curve, the steering-rule grid (rules.csv), the samples and the eval summary,
and of the short table the train command prints. Every file goes through io.py."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_lab.config import RunConfig
from refusal_lab.data import mixing
from refusal_lab.data.records import Example
from refusal_lab.definitions import CATEGORY_SLUGS, control_tokens, refusal_rate_key
from refusal_lab.evaluation import metrics
from refusal_lab.evaluation.pattern_judge import pattern_refused
from refusal_lab.evaluation.scoring import first_position_probs, generate_forced
from refusal_lab.io import write_csv, write_jsonl
from refusal_lab.steering import decisions

log = logging.getLogger("refusal_lab")


@dataclass
class Evaluation:
    summary: dict  # eval/* figures
    scores: pd.DataFrame  # one row per prompt: ids, kind, p<token> columns, p_refuse, refused_default
    curve: pd.DataFrame  # the exact threshold curve of p_refuse


def eval_subset(rows: list[Example], max_prompts: int | None, seed: int) -> list[Example]:
    """At most max_prompts rows, sampled per source in proportion (stratified)."""
    if max_prompts is None or len(rows) <= max_prompts:
        return rows
    rng = random.Random(seed)
    by_source: dict[str, list[Example]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    quota = mixing.largest_remainder(max_prompts, {s: float(len(v)) for s, v in by_source.items()})
    return [r for s, v in by_source.items() for r in rng.sample(v, quota[s])]


def row_columns(rows) -> pd.DataFrame:
    """The first columns of every scores table: which prompt, where from, and its label."""
    return pd.DataFrame(
        {
            "id": [r.id for r in rows],
            "source": [r.source for r in rows],
            "category": [r.category or "" for r in rows],
            "subcategory": [r.subcategory for r in rows],
            "should_refuse": np.array([r.should_refuse for r in rows]),
        }
    )


def score_rows(model, tokenizer, rows: list[Example], cfg: RunConfig, token_ids: dict[str, int]) -> Evaluation:
    """Scores per prompt (the scores table), the exact threshold curve and the summary metrics."""
    scheme = cfg.tokens.scheme
    tokens = control_tokens(scheme)
    y = np.array([r.should_refuse for r in rows])
    groups = [refusal_rate_key(r.source, r.category) for r in rows]
    scores = row_columns(rows)
    if tokens:
        probs = first_position_probs(
            model,
            tokenizer,
            [r.prompt for r in rows],
            [token_ids[t] for t in tokens],
            cfg.eval.batch_size,
            cfg.eval.temperature,
        )
        for j, t in enumerate(tokens):
            scores[f"p{t}"] = probs[:, j]
        score = decisions.refusal_score(probs, tokens)
        refused_default = decisions.is_refusal(decisions.model_choice(probs), tokens)
        refused_at_t = decisions.is_refusal(decisions.threshold_rule(probs, tokens, cfg.eval.threshold), tokens)
        score_kind = "p_refuse"
    else:  # baseline without tokens: judge the generated text
        texts = generate_forced(
            model, tokenizer, [r.prompt for r in rows], [None] * len(rows), cfg.eval.max_new_tokens, cfg.eval.batch_size
        )
        scores["response"] = texts
        refused_default = refused_at_t = np.array([pattern_refused(t) for t in texts])
        score = refused_default.astype(float)
        score_kind = "pattern_judge"
    scores["p_refuse"] = score
    scores["refused_default"] = refused_default
    curve = metrics.threshold_curve(score, y)
    best_f1, best_t = metrics.best_threshold(curve)
    at_default = metrics.binary_metrics(refused_default, y)
    at_t = metrics.binary_metrics(refused_at_t, y)
    summary = {
        f"eval/{k}": at_default[k]
        for k in ("f1", "precision", "recall", "false_refusal_rate", "missed_refusal_rate", "refusal_rate")
    }
    summary.update(
        {
            "eval/auroc": metrics.auroc(score, y),
            "eval/best_f1": best_f1,
            "eval/best_threshold": best_t,
            "eval/threshold": cfg.eval.threshold,
            "eval/f1_at_threshold": at_t["f1"],
            "eval/false_refusal_rate_at_threshold": at_t["false_refusal_rate"],
            "eval/missed_refusal_rate_at_threshold": at_t["missed_refusal_rate"],
            "eval/n_prompts": len(rows),
            "eval/n_should_refuse": int(y.sum()),
            "eval/score_kind": score_kind,
            "eval/ece": metrics.expected_calibration_error(score, y) if score_kind == "p_refuse" else float("nan"),
        }
    )
    for g, rate in metrics.refusal_rates_by_group(refused_default, groups).items():
        summary[f"eval/refusal_rate/{g}"] = rate
    return Evaluation(summary, scores, curve)


def show_samples(
    model, tokenizer, rows: list[Example], scores: pd.DataFrame, cfg: RunConfig, token_ids: dict[str, int]
) -> pd.DataFrame:
    """A few prompts of each kind, generated after the token the default rule chose."""
    tokens = control_tokens(cfg.tokens.scheme)
    picked: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        kind = refusal_rate_key(r.source, r.category)
        if len(picked.setdefault(kind, [])) < cfg.eval.samples_per_kind:
            picked[kind].append(i)
    idx = [i for v in picked.values() for i in v]
    if not idx:
        return pd.DataFrame()
    if tokens:
        probs = scores[[f"p{t}" for t in tokens]].to_numpy()[idx]
        chosen = [tokens[c] for c in decisions.model_choice(probs)]
        forced = [token_ids[t] for t in chosen]
    else:
        chosen, forced = [""] * len(idx), [None] * len(idx)
    texts = generate_forced(model, tokenizer, [rows[i].prompt for i in idx], forced, cfg.eval.max_new_tokens)
    return pd.DataFrame(
        {
            "kind": [refusal_rate_key(rows[i].source, rows[i].category) for i in idx],
            "should_refuse": [rows[i].should_refuse for i in idx],
            "prompt": [rows[i].prompt for i in idx],
            "token": chosen,
            "response": texts,
        }
    )


def evaluate_and_report(
    model, tokenizer, eval_rows: list[Example], cfg: RunConfig, token_ids: dict[str, int], run_dir: Path, logger
) -> dict:
    """Score the eval prompts, write scores / curve / every steering rule / samples, log the
    tables; returns the eval summary."""
    rows = eval_subset(eval_rows, cfg.eval.max_prompts, cfg.seed)
    ev = score_rows(model, tokenizer, rows, cfg, token_ids)
    write_csv(run_dir / "scores.csv", ev.scores)
    write_csv(run_dir / "threshold_curve.csv", ev.curve)
    if tokens := control_tokens(cfg.tokens.scheme):  # every steering rule over its grid, from the cached scores
        write_csv(
            run_dir / "rules.csv",
            decisions.rule_grid(
                ev.scores[[f"p{t}" for t in tokens]].to_numpy(),
                tokens,
                ev.scores["should_refuse"].to_numpy(),
                [refusal_rate_key(r.source, r.category) for r in rows],
            ),
        )
    samples = show_samples(model, tokenizer, rows, ev.scores, cfg, token_ids)
    write_jsonl(run_dir / "samples.jsonl", samples.to_dict(orient="records"))
    for s in samples.itertuples():
        log.info(
            "sample [%s] %s\n    prompt:   %s\n    response: %s%s",
            s.kind,
            "should refuse" if s.should_refuse else "should answer",
            s.prompt[:200],
            s.token,
            s.response[:300],
        )
    logger.log_table("eval/threshold_curve", ev.curve)
    if not samples.empty:
        logger.log_table("eval/samples", samples)
    return ev.summary


def format_table(summary: dict) -> str:
    """The short table the main job prints."""

    def pct(k):
        v = summary.get(k)
        return "n/a" if v is None or v != v else f"{100 * v:5.1f}%"

    lines = [
        f"refusal F1 (default rule)        {summary['eval/f1']:.3f}",
        f"best F1 over thresholds          {summary['eval/best_f1']:.3f}  at p(refuse) >= {summary['eval/best_threshold']:.3g}",
        f"AUROC of p(refuse)               {summary['eval/auroc']:.3f}",
        f"false-refusal rate (Type II)     {pct('eval/false_refusal_rate')}",
        f"missed-refusal rate (Type I)     {pct('eval/missed_refusal_rate')}",
        f"calibration error (ECE)          {summary.get('eval/ece', float('nan')):.3f}",
        "refusal rate per kind:",
    ]
    kinds = list(CATEGORY_SLUGS.values()) + ["contrast", "general"]
    for k in kinds:
        if f"eval/refusal_rate/{k}" in summary:
            target = "should refuse" if k in CATEGORY_SLUGS.values() else "should answer"
            lines.append(f"  {k:<14} {pct('eval/refusal_rate/' + k)}   ({target})")
    return "\n".join(lines)
