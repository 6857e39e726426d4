"""The library behind `refusal-lab eval` (refusal_lab/commands/eval.py).

Scores a checkpoint's eval prompts once (first-position probabilities), decides them
under the policy, and writes/prints: refusal rates per kind (CoCoNot category,
contrast, general) and per subcategory at the model's default rule and under the
policy, refusal F1 etc., and the exact grid of every rule (decisions.rule_grid, rules.csv) from
the same probabilities. Optionally generates after the chosen token and judges the
text (pattern judge, or an LLM judge at judge_url) with token/text agreement.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_lab.config import DataConfig, InputError


def _data_config(data: DataConfig, checkpoint: Path) -> DataConfig:
    """builtin: the run's own data section (same split) when the checkpoint's run wrote one."""
    from refusal_lab.config import validate

    run_cfg = checkpoint.parent / "config.json"
    if data.name == "builtin" and run_cfg.exists():
        return validate(json.loads(run_cfg.read_text())).data
    return data


def eval_rows(data: DataConfig, split: str, checkpoint: Path):
    """Rows to score. split=all reads CoCoNot's whole original test + contrast test
    (for checkpoints not trained on CoCoNot); split=eval is the held-out split."""
    from refusal_lab.data import loaders
    from refusal_lab.definitions import SOURCE_CONTRAST, SOURCE_REFUSAL

    if split not in ("eval", "all"):
        raise InputError(f"split={split!r}: expected eval or all")
    cfg = _data_config(data, checkpoint)
    if split == "all":
        if data.refusal_source == "builtin":
            raise InputError("split='all': only with data=coconot (the builtin data has no official test split)")
        folder = Path(cfg.coconot_path)
        rows = []
        for fname, source in (("coconot_eval.jsonl", SOURCE_REFUSAL), ("coconot_contrast_eval.jsonl", SOURCE_CONTRAST)):
            if not (folder / fname).exists():
                raise InputError(f"data.coconot_path={str(folder)!r}: {fname} not found; set REFUSAL_LAB_SHARED_DATA")
            raw, _ = loaders.coconot_file(folder / fname)
            rows += loaders.coconot_rows([{**r, "response": r.get("response") or "(eval)"} for r in raw], source, fname)
        return rows
    return loaders.load(cfg).eval


def group_rates(refused: np.ndarray, rows) -> dict[str, float]:
    """Refusal rate per kind and per (category slug / normalised subcategory)."""
    from refusal_lab.definitions import CATEGORY_SLUGS, normalise_subcategory, refusal_rate_key
    from refusal_lab.evaluation.metrics import refusal_rates_by_group

    out = {
        f"refusal_rate/{k}": v
        for k, v in refusal_rates_by_group(refused, [refusal_rate_key(r.source, r.category) for r in rows]).items()
    }
    subs = [
        f"{r.source}:{CATEGORY_SLUGS.get(r.category or '', 'none')}/{normalise_subcategory(r.subcategory) or '-'}"
        for r in rows
    ]
    out.update({f"refusal_rate_sub/{k}": v for k, v in refusal_rates_by_group(refused, subs).items()})
    return out


def evaluate(model, tokenizer, rows, pol, batch_size: int = 32) -> tuple[pd.DataFrame, dict, pd.DataFrame, np.ndarray]:
    """(per-prompt scores with the policy's choice, metrics, sweep of every rule, probs)."""
    from refusal_lab.steering import decisions
    from refusal_lab.evaluation import metrics
    from refusal_lab.steering import policy as policy_mod
    from refusal_lab.evaluation import scoring
    from refusal_lab.evaluation.report import row_columns
    from refusal_lab.steering import first_position
    from refusal_lab.definitions import refusal_rate_key

    tokens = pol.tokens
    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    unknown = [
        t
        for t, i in token_ids.items()
        if i is None or i == tokenizer.unk_token_id or tokenizer.convert_ids_to_tokens(i) != t
    ]
    if unknown:
        raise InputError(
            f"policy scheme={pol.scheme!r}: the checkpoint's tokenizer lacks {unknown}; set the policy's scheme to the checkpoint's"
        )
    ids = [first_position.chat_ids(tokenizer, [{"role": "user", "content": r.prompt}]) for r in rows]
    probs = np.exp(
        scoring.first_position_logprobs(
            model,
            ids,
            [token_ids[t] for t in tokens],
            tokenizer.pad_token_id,
            policy_mod.scoring_temperature(pol),
            batch_size,
        )
    )
    y = np.array([r.should_refuse for r in rows])
    default = decisions.model_choice(probs)
    chosen = policy_mod.apply(pol, probs, tokens)
    scores = row_columns(rows)
    for j, t in enumerate(tokens):
        scores[f"p{t}"] = probs[:, j]
    scores["p_refuse"] = decisions.refusal_score(probs, tokens)
    scores["refused_default"] = decisions.is_refusal(default, tokens)
    scores["token_policy"] = [tokens[c] for c in chosen]
    scores["refused_policy"] = decisions.is_refusal(chosen, tokens)
    result = {
        "n_prompts": len(rows),
        "n_should_refuse": int(y.sum()),
        "policy": pol.as_dict(),
        "auroc": metrics.auroc(scores["p_refuse"], y),
    }
    for name, refused in (
        ("default", scores["refused_default"].to_numpy()),
        ("policy", scores["refused_policy"].to_numpy()),
    ):
        m = metrics.binary_metrics(refused, y)
        result.update({f"{name}/{k}": v for k, v in m.items()})
        result.update({f"{name}/{k}": v for k, v in group_rates(refused, rows).items()})
    groups = [refusal_rate_key(r.source, r.category) for r in rows]
    # probabilities are at the policy's scoring temperature; the bias sweep uses the policy's temperature
    sweep = decisions.rule_grid(probs, tokens, y, groups, temperature=pol.temperature if pol.rule == "bias" else 1.0)
    return scores, result, sweep, probs


def format_report(result: dict, sweep: pd.DataFrame) -> str:
    def pct(v):
        return "  n/a" if v is None or v != v else f"{100 * v:5.1f}%"

    kinds = sorted({k.split("/", 2)[2] for k in result if k.startswith("default/refusal_rate/")})
    lines = [
        f"prompts: {result['n_prompts']} ({result['n_should_refuse']} should refuse)   AUROC of p(refuse): {result['auroc']:.3f}",
        f"policy: {json.dumps({k: v for k, v in result['policy'].items() if v not in (None, {}, [])})}",
        "",
        f"{'':<28}{'default':>9}{'policy':>9}",
    ]
    for k in ("f1", "false_refusal_rate", "missed_refusal_rate", "refusal_rate"):
        lines.append(f"{k:<28}{pct(result['default/' + k]):>9}{pct(result['policy/' + k]):>9}")
    lines.append("refusal rate per kind:")
    for k in kinds:
        lines.append(
            f"  {k:<26}{pct(result['default/refusal_rate/' + k]):>9}{pct(result['policy/refusal_rate/' + k]):>9}"
        )
    th = sweep[sweep.rule == "threshold"]
    pick = th[np.isclose(th.threshold.to_numpy() * 10, np.round(th.threshold.to_numpy() * 10))]
    cols = [c for c in sweep.columns if c.startswith("refusal_rate/")]
    lines += [
        "",
        "threshold rule p(refuse) >= t, refusal rate per kind:",
        f"{'t':>5} {'F1':>6} " + " ".join(f"{c.split('/', 1)[1][:11]:>11}" for c in cols),
    ]
    for _, row in pick.iterrows():
        lines.append(f"{row['threshold']:>5.2f} {row['f1']:>6.3f} " + " ".join(f"{pct(row[c]):>11}" for c in cols))
    return "\n".join(lines)


def judge_texts(rows, texts: list[str], judge) -> tuple[list[str], str | None]:
    """A label per generated text (the pattern judge, or the LLM judge when judge.url is set: a
    config.JudgeConfig) and, for the LLM judge, the error to exit on (too many UNCLEAR or FAILED rows)."""
    from refusal_lab.evaluation import judges, pattern_judge

    if not judge.url:
        return ["REFUSED" if pattern_judge.pattern_refused(t) else "ANSWERED" for t in texts], None
    limit = int(judge.max_unclear_rate * len(texts))  # more failures than this cannot pass: stop asking
    verdicts = judges.LLMJudge.from_config(judge).judge(
        [r.prompt for r in rows], texts, [r.subcategory for r in rows], max_failures=limit
    )
    return [v.label for v in verdicts], judges.health(verdicts, judge.max_unclear_rate)
