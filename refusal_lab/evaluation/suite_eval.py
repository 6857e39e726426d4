"""A model over a suite of eval sets (model I/O + files + W&B).

* A refusal-lab checkpoint with control tokens: p(refuse) at the first response
  position from one forward pass per prompt; the decision is the policy's (default:
  the model's own choice). With max_new_tokens > 0 the text after the chosen (forced)
  token is generated greedily and judged too: token/text consistency per category.
* Any Hugging Face causal LM or a checkpoint trained with tokens=none: greedy
  generation, the text judged (the first judge decides `refused`); no p(refuse).

Output (the layout `refusal-lab analyze` reads): <out>/config.json, summary.json with
flat `eval/<set>/...` keys, sets/<set>/scores.csv and threshold_curve.csv (per set, so
training-run tables never mix with benchmark rows), consistency.csv,
judge_agreement.csv, and a W&B run with job_type eval.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_lab.data.files import DataError
from refusal_lab.definitions import control_tokens
from refusal_lab.evaluation import suite_metrics
from refusal_lab.evaluation.suite import LoadedSet

log = logging.getLogger(__name__)
JUDGES = ("pattern", "llm")


@dataclass
class SuiteOptions:
    batch_size: int = 16  # prompts per forward pass / generate call
    max_new_tokens: int = 0  # > 0: generate after the chosen token and judge (scheme none: 64 if 0)
    judges: list[str] | None = None  # override every set's judges (pattern, llm); None = each set's own
    judge_url: str | None = None  # OpenAI-compatible endpoint of the LLM judge
    judge_model: str | None = None  # model name at judge_url
    max_prompts: int | None = None  # per set, stratified by label
    seed: int = 0  # bootstrap and subsampling seed
    n_boot: int = 2000  # bootstrap resamples
    timings: dict = field(default_factory=dict)  # seconds per stage, filled by run_suite


def check_judges(sets: list[LoadedSet], opts: SuiteOptions) -> None:
    """Every judge named exists and the LLM judge has its endpoint: checked before the model loads."""
    for s in sets:
        for j in opts.judges or s.cfg.judges:
            if j not in JUDGES:
                raise DataError(
                    f"{s.cfg.name}.judges: {j!r} is not a judge; use one of {', '.join(JUDGES)} (a classifier judge "
                    "such as WildGuard or HarmBench-cls runs as `llm` behind an OpenAI-compatible endpoint)"
                )
            if j == "llm" and not (opts.judge_url and opts.judge_model):
                raise DataError(
                    f"{s.cfg.name}.judges: llm needs judge_url=... and judge_model=... (any OpenAI-compatible endpoint)"
                )
            if j == "llm" and s.cfg.rubric and not Path(s.cfg.rubric).exists():
                raise DataError(
                    f"{s.cfg.name}.rubric={s.cfg.rubric!r}: no such file; fix the path or set {s.cfg.name}.rubric=null "
                    "(the generic rubric)"
                )


def scheme_of(checkpoint: Path, tokenizer) -> str:
    """The control-token scheme of a model: its run's config, else the tokens its vocabulary has."""
    run_cfg = checkpoint.parent / "config.json"
    if run_cfg.exists():
        try:
            return json.loads(run_cfg.read_text())["tokens"]["scheme"]
        except (KeyError, TypeError, json.JSONDecodeError):
            pass
    vocab = tokenizer.get_vocab()
    for scheme in ("category", "single"):
        if all(t in vocab for t in control_tokens(scheme)):
            return scheme
    return "none"


def _judge(name: str, rows, texts: list[str], rubric: str | None, opts: SuiteOptions) -> list[str]:
    from refusal_lab.evaluation import judges, pattern_judge

    if name == "pattern":
        return ["REFUSED" if pattern_judge.pattern_refused(t) else "ANSWERED" for t in texts]
    judge = judges.LLMJudge(opts.judge_url, opts.judge_model, rubric=judges.load_rubric(rubric) if rubric else None)
    return [v.label for v in judge.judge([r.prompt for r in rows], texts, [r.subcategory for r in rows])]


def _subset(rows, max_prompts: int | None, seed: int):
    from refusal_lab.evaluation.report import eval_subset

    return eval_subset(rows, max_prompts, seed)


def _frame(s: LoadedSet, rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "set": s.cfg.name,
            "id": [r.id for r in rows],
            "category": [r.category or "" for r in rows],
            "subcategory": [r.subcategory for r in rows],
            "should_refuse": [r.should_refuse for r in rows],
        }
    )


def score_set(model, tokenizer, s: LoadedSet, pol, opts: SuiteOptions) -> pd.DataFrame:
    """One set: first-position probabilities and the policy's decision; optionally the judged text after it."""
    from refusal_lab.evaluation import scoring
    from refusal_lab.steering import decisions, first_position, policy as policy_mod

    rows = _subset(s.rows, opts.max_prompts, opts.seed)
    frame = _frame(s, rows)
    ids = [first_position.chat_ids(tokenizer, r.messages()) for r in rows]
    tokens = pol.tokens
    token_ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    t0 = time.perf_counter()
    probs = np.exp(
        scoring.first_position_logprobs(
            model, ids, token_ids, tokenizer.pad_token_id, policy_mod.scoring_temperature(pol), opts.batch_size
        )
    )
    _add(opts.timings, "score", time.perf_counter() - t0)
    chosen = policy_mod.apply(pol, probs, tokens)
    for j, t in enumerate(tokens):
        frame[f"p{t}"] = probs[:, j]
    frame["p_refuse"] = decisions.refusal_score(probs, tokens)
    frame["token"] = [tokens[c] for c in chosen]
    frame["refused"] = decisions.is_refusal(chosen, tokens)
    if opts.max_new_tokens > 0:
        forced = [i + [token_ids[c]] for i, c in zip(ids, chosen)]
        _generate_and_judge(model, tokenizer, s, rows, forced, frame, opts, decides=False)
    return frame


def generate_set(model, tokenizer, s: LoadedSet, opts: SuiteOptions) -> pd.DataFrame:
    """One set for a model without control tokens: greedy text, judged; the first judge decides."""
    from refusal_lab.steering import first_position

    rows = _subset(s.rows, opts.max_prompts, opts.seed)
    frame = _frame(s, rows)
    ids = [first_position.chat_ids(tokenizer, r.messages()) for r in rows]
    frame["p_refuse"] = np.nan
    _generate_and_judge(model, tokenizer, s, rows, ids, frame, opts, decides=True)
    return frame


def _generate_and_judge(model, tokenizer, s, rows, id_lists, frame, opts, decides: bool) -> None:
    from refusal_lab.evaluation import scoring

    t0 = time.perf_counter()
    out = scoring.generate_after(model, tokenizer, id_lists, opts.max_new_tokens or 64, opts.batch_size)
    texts = [t.strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]
    _add(opts.timings, "generate", time.perf_counter() - t0)
    frame["response"] = texts
    t0 = time.perf_counter()
    names = opts.judges or s.cfg.judges
    for name in names:
        frame[f"judge/{name}"] = _judge(name, rows, texts, s.cfg.rubric, opts)
    if "pattern" in names:  # the three classes behind the pattern judge's REFUSED (partial counts as refused)
        from refusal_lab.evaluation.pattern_judge import classify

        frame["pattern_class"] = [classify(t) for t in texts]
    _add(opts.timings, "judge", time.perf_counter() - t0)
    if decides:
        frame["refused"] = frame[f"judge/{names[0]}"] == "REFUSED"


def _add(timings: dict, stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


def agreement_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa per set for every pair of judges that ran."""
    from refusal_lab.evaluation.agreement import cohen_kappa

    judges_ran = [c for c in frame.columns if c.startswith("judge/")]
    rows = []
    for name, part in frame.groupby("set", sort=False):
        for i, a in enumerate(judges_ran):
            for b in judges_ran[i + 1 :]:
                rows.append(
                    {
                        "set": name,
                        "judge_a": a[6:],
                        "judge_b": b[6:],
                        "n": len(part),
                        "agreement": float((part[a] == part[b]).mean()),
                        "kappa": cohen_kappa(list(part[a]), list(part[b])),
                    }
                )
    return pd.DataFrame(rows)


def summarise(frames: dict[str, pd.DataFrame], opts: SuiteOptions) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(summary, consistency per set and category, judge agreement)."""
    summary: dict = {}
    for name, f in frames.items():
        summary.update(suite_metrics.set_summary(name, f, opts.seed, opts.n_boot))
        if "pattern_class" in f:
            summary[f"eval/{name}/partial_refusal_rate"] = float((f["pattern_class"] == "partial").mean())
    summary.update(suite_metrics.averages(frames, opts.seed, opts.n_boot))
    allrows = pd.concat(frames.values(), ignore_index=True)
    consistency = pd.DataFrame()
    judge_cols = [c for c in allrows.columns if c.startswith("judge/")]
    if "token" in allrows and judge_cols:
        parts = [suite_metrics.consistency_by_category(f, judge_cols[0]).assign(set=n) for n, f in frames.items()]
        consistency = pd.concat(parts, ignore_index=True)
        for n, f in frames.items():
            c = suite_metrics.consistency_by_category(f.assign(category=""), judge_cols[0]).iloc[0]
            summary[f"eval/{n}/respond_then_refused_rate"] = c["respond_then_refused_rate"]
            summary[f"eval/{n}/refuse_then_answered_rate"] = c["refuse_then_answered_rate"]
    agreement = agreement_table(allrows) if len(judge_cols) > 1 else pd.DataFrame()
    return summary, consistency, agreement


def write_outputs(
    out: Path,
    frames: dict[str, pd.DataFrame],
    summary: dict,
    consistency: pd.DataFrame,
    agreement: pd.DataFrame,
    config: dict,
) -> None:
    from refusal_lab.evaluation.metrics import threshold_curve
    from refusal_lab.io import write_csv, write_json

    for name, f in frames.items():
        write_csv(out / "sets" / name / "scores.csv", f)
        if f["p_refuse"].notna().all():
            write_csv(out / "sets" / name / "threshold_curve.csv", threshold_curve(f.p_refuse, f.should_refuse))
    if len(consistency):
        write_csv(out / "consistency.csv", consistency)
    if len(agreement):
        write_csv(out / "judge_agreement.csv", agreement)
    write_json(out / "config.json", config)
    write_json(out / "summary.json", summary)


def run_suite(
    model,
    tokenizer,
    checkpoint: Path,
    sets: list[LoadedSet],
    pol,
    opts: SuiteOptions,
    out: Path,
    logger_cfg=None,
    group: str | None = None,
) -> dict:
    """Score every set, write the files, log one W&B eval run; returns the summary."""
    from refusal_lab.experiments.tracking import make_logger

    scheme = pol.scheme if pol is not None else "none"
    frames = {
        s.cfg.name: (
            score_set(model, tokenizer, s, pol, opts) if pol is not None else generate_set(model, tokenizer, s, opts)
        )
        for s in sets
    }
    summary, consistency, agreement = summarise(frames, opts)
    summary.update(
        {"eval/scheme": scheme, "eval/sets": ",".join(frames), "eval/score_kind": "p_refuse" if pol else "judge"}
    )
    config = {
        "job_type": "eval",
        "checkpoint": str(checkpoint),
        "scheme": scheme,
        "policy": pol.as_dict() if pol else None,
        "sets": {s.cfg.name: asdict(s.cfg) | {"origin": s.origin, "rows": len(s.rows)} for s in sets},
        "options": {k: v for k, v in asdict(opts).items() if k != "timings"},
        "logger": {"group": group},
        "tokens": {"scheme": scheme},
    }
    write_outputs(out, frames, summary, consistency, agreement, config)
    if logger_cfg is not None and logger_cfg.mode != "disabled":
        import dataclasses

        cfg = dataclasses.replace(logger_cfg, group=group or logger_cfg.group)
        logger = make_logger(
            cfg, out, config, f"eval-{checkpoint.parent.name}-{'+'.join(frames)}"[:120], job_type="eval"
        )
        try:
            logger.set_summary(summary)
            for name, f in frames.items():
                logger.log_table(f"eval/{name}/rates", _rates_table(summary, name))
        finally:
            logger.finish(0)
    return summary


def _rates_table(summary: dict, name: str) -> pd.DataFrame:
    prefix = f"eval/{name}/"
    return pd.DataFrame(
        [
            {"metric": k[len(prefix) :], "value": v}
            for k, v in summary.items()
            if k.startswith(prefix) and isinstance(v, (int, float))
        ]
    )
