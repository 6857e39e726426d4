"""The analysis tables: pure functions of the DataFrames in SweepData.

Vocabulary (refusal_lab.definitions): positive class = should refuse; false
refusal = Type II (refused a should-answer prompt), missed refusal = Type I.

A *config* is a run's configuration without its seeds and bookkeeping: runs
that differ only in seed are repeats of one config, and tables report their
mean and spread. The config columns of a sweep are scheme, contrast_ratio and
every other config key whose value differs between runs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from refusal_lab.steering import decisions
from refusal_lab.definitions import CATEGORY_SLUGS, control_tokens, refusal_rate_key
from refusal_lab.evaluation.metrics import rates

# Config keys that do not change what a run measures (W&B naming, threads, logging,
# checkpoints, how many samples are printed); they never split configs.
BOOKKEEPING_KEYS = (
    "config.run_dir",
    "config.train.threads",
    "config.train.device",
    "config.train.log_every",
    "config.train.checkpoint_every",
    "config.train.save_checkpoint",
    "config.eval.samples_per_kind",
    "config.eval.max_new_tokens",
    "config.eval.batch_size",
)
BOOKKEEPING_PREFIXES = ("config.logger.",)
KINDS = tuple(CATEGORY_SLUGS.values()) + ("contrast", "general")  # refusal-rate groups, as the pipeline logs them
SHOULD_REFUSE_ALL = "all should-refuse"  # kinds available from a threshold curve alone
SHOULD_ANSWER_ALL = "all should-answer"
CURVE_METRICS = ("precision", "recall", "f1", "false_refusal_rate", "missed_refusal_rate", "refusal_rate")
DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 101), 10)
# Summary metrics of the paper-style table, in column order.
PAPER_METRICS = (
    "eval/f1",
    "eval/precision",
    "eval/recall",
    "eval/best_f1",
    "eval/best_threshold",
    "eval/auroc",
    "eval/false_refusal_rate",
    "eval/missed_refusal_rate",
) + tuple(f"eval/refusal_rate/{k}" for k in KINDS)
ERROR_METRICS = ("eval/false_refusal_rate", "eval/missed_refusal_rate", "eval/refusal_rate/contrast")


# ----------------------------------------------------------------------------- configs


def is_seed_key(column: str) -> bool:
    """seed, train.seed, mix.seed, data.split_seed: repeats, not configs."""
    name = column.rsplit(".", 1)[-1]
    return column.startswith("config.") and (name == "seed" or name.endswith("_seed"))


def _hashable(s: pd.Series) -> pd.Series:
    if s.dtype != object:
        return s  # numbers and strings are hashable already
    return s.map(lambda v: repr(v) if isinstance(v, (list, dict)) else v)


def input_sections() -> tuple[str, ...]:
    """The top-level sections of a run's *input* config (RunConfig's fields: model, data, mix,
    tokens, train, eval, logger, seed, run_dir). Anything else a run logs into its W&B config
    (mix_manifest.*, data_report.*: realised counts and content hashes) is derived from them."""
    import dataclasses

    from refusal_lab.config import RunConfig

    return tuple(f.name for f in dataclasses.fields(RunConfig))


def is_input_key(column: str, sections: tuple[str, ...] | None = None) -> bool:
    """True for a config column set by the user (config.mix.contrast_ratio), False for derived
    values (config.mix_manifest.realised.general, config.data_report.*) and non-config columns."""
    if not column.startswith("config."):
        return False
    return column.removeprefix("config.").split(".", 1)[0] in (sections or input_sections())


def varied_config_keys(runs: pd.DataFrame) -> list[str]:
    """Input config columns (not derived, not seeds, not bookkeeping) whose value differs between runs."""
    keys = []
    sections = input_sections()
    for c in runs.columns:
        if (
            not is_input_key(c, sections)
            or is_seed_key(c)
            or c in BOOKKEEPING_KEYS
            or c.startswith(BOOKKEEPING_PREFIXES)
        ):
            continue
        if _hashable(runs[c]).nunique(dropna=False) > 1:
            keys.append(c)
    return keys


def config_columns(runs: pd.DataFrame) -> list[str]:
    """scheme and contrast_ratio first, then the other varied keys (without the "config." prefix)."""
    others = [k for k in varied_config_keys(runs) if k not in ("config.tokens.scheme", "config.mix.contrast_ratio")]
    return ["scheme", "contrast_ratio"] + [k.removeprefix("config.") for k in others]


def with_configs(runs: pd.DataFrame) -> pd.DataFrame:
    """runs plus the other varied keys as plain columns and a readable config_id."""
    out = runs.copy()
    cols = config_columns(runs)
    for c in cols[2:]:
        out[c] = _hashable(out["config." + c])
    out["config_id"] = [config_label(dict(zip(cols, vals))) for vals in out[cols].itertuples(index=False, name=None)]
    return out


def config_label(values: dict) -> str:
    parts = []
    for k, v in values.items():
        if k == "contrast_ratio":
            parts.append(f"cr={_fmt(v)}")
        elif k == "scheme":
            parts.append(str(v))
        else:
            parts.append(f"{k}={_fmt(v)}")
    return " ".join(parts)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def _spread(frame: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """mean, std (over seeds, ddof=1; nan for one seed), min, max and n per group."""
    present = [m for m in metrics if m in frame.columns]
    numeric = frame[keys].copy()
    for m in present:
        numeric[m] = pd.to_numeric(frame[m], errors="coerce")
    g = numeric.groupby(keys, dropna=False, sort=True)
    out = g.size().rename("n_seeds").to_frame()
    if present:
        stats = g[present].agg(["mean", "std", "min", "max"])
        stats.columns = [f"{m}_{stat}" for m, stat in stats.columns]
        out = out.join(stats)
    return out.reset_index()


# ----------------------------------------------------------------------------- Type II / I


def error_rates_by_config(runs: pd.DataFrame) -> pd.DataFrame:
    """False refusals (Type II) and missed refusals (Type I) per config, against contrast
    ratio for each token scheme: mean, std, min, max over seeds. Sorted by scheme, then ratio."""
    runs = with_configs(runs)
    keys = config_columns(runs) + ["config_id"]
    return _spread(runs, keys, list(ERROR_METRICS)).sort_values(
        ["scheme", "contrast_ratio"], kind="stable", ignore_index=True
    )


# ----------------------------------------------------------------------------- threshold curves

LOG_SCALE_BELOW = 0.05  # median logged threshold below this: p(refuse) lives near 0, use a log axis
LOG_GRID_POINTS = 121


def threshold_axis(curves: pd.DataFrame) -> tuple[np.ndarray, str]:
    """(grid, scale) that follow the scores: a linear 0..1 grid in 0.01 steps when the logged
    thresholds spread over [0, 1]; a log grid from the smallest positive threshold to 1 (plus 0)
    when most of them sit near 0, where the linear grid would put every run's curve in its
    first cell."""
    t = curves["threshold"].to_numpy(dtype=float) if len(curves) else np.array([])
    t = t[np.isfinite(t)]
    if not len(t) or np.median(t) >= LOG_SCALE_BELOW or not (t > 0).any():
        return DEFAULT_GRID, "linear"
    low = max(float(t[t > 0].min()), 1e-8)
    grid = np.r_[0.0, np.geomspace(low, 1.0, LOG_GRID_POINTS)]
    return np.unique(np.round(grid, 12)), "log"


def curves_on_grid(curves: pd.DataFrame, grid=DEFAULT_GRID) -> pd.DataFrame:
    """Every run's metrics of the rule 'refuse iff p(refuse) >= t' at each t of a common grid.

    A logged curve holds the exact counts at every distinct score; the rule at a grid
    value g equals the row with the smallest logged threshold >= g (the same prompts
    score >= g), and above the largest score nothing is refused. That is exact, where
    linear interpolation between logged thresholds would invent counts.
    """
    grid = np.asarray(grid, dtype=float)
    if curves.empty:
        return pd.DataFrame(columns=["run_id", "threshold", "tp", "fp", "fn", "tn", *CURVE_METRICS])
    c = curves.sort_values(["run_id", "threshold"], kind="stable")
    run_ids, starts = np.unique(c["run_id"].to_numpy(dtype=object), return_index=True)
    ends = np.r_[starts[1:], len(c)]
    thr = c["threshold"].to_numpy(dtype=float)
    counts = {k: c[k].to_numpy(dtype=float) for k in ("tp", "fp", "fn", "tn")}
    out = {k: np.empty((len(run_ids), len(grid))) for k in counts}
    for r, (a, b) in enumerate(zip(starts, ends)):  # numpy only inside the loop: 500 runs in ms
        idx = np.searchsorted(thr[a:b], grid, side="left")
        inside = idx < b - a
        j = a + np.minimum(idx, b - a - 1)
        pos, neg = counts["tp"][a] + counts["fn"][a], counts["fp"][a] + counts["tn"][a]
        out["tp"][r] = np.where(inside, counts["tp"][j], 0.0)
        out["fp"][r] = np.where(inside, counts["fp"][j], 0.0)
        out["fn"][r] = np.where(inside, counts["fn"][j], pos)
        out["tn"][r] = np.where(inside, counts["tn"][j], neg)
    flat = {k: v.ravel() for k, v in out.items()}
    frame = pd.DataFrame({"run_id": np.repeat(run_ids, len(grid)), "threshold": np.tile(grid, len(run_ids)), **flat})
    for k, v in rates(flat["tp"], flat["fp"], flat["fn"], flat["tn"]).items():
        frame[k] = v
    return frame


def mean_curves_by_config(grid_curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Grid curves averaged over the seeds of each config: <metric>_mean, <metric>_std, n_seeds."""
    runs = with_configs(runs)
    keys = config_columns(runs) + ["config_id"]
    merged = grid_curves.merge(runs[["run_id", *keys]], on="run_id", how="inner")
    return _spread(merged, keys + ["threshold"], list(CURVE_METRICS))


def best_thresholds_from_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: best F1 over the logged curve and its threshold (highest among ties, as
    metrics.best_threshold chooses), recomputed from the curve itself."""
    if curves.empty:
        return pd.DataFrame(columns=["run_id", "best_f1", "best_threshold"])
    c = curves.sort_values(["run_id", "threshold"], ascending=[True, False], kind="stable")
    best = c.loc[c.groupby("run_id", sort=False)["f1"].idxmax(), ["run_id", "f1", "threshold"]]
    return best.rename(columns={"f1": "best_f1", "threshold": "best_threshold"}).reset_index(drop=True)


# ----------------------------------------------------------------------------- per kind


def _kind_column(scores: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [refusal_rate_key(s, c or None) for s, c in zip(scores["source"], scores["category"].fillna(""))],
        index=scores.index,
    )


def refusal_rate_by_kind_vs_threshold(scores: pd.DataFrame, grid=DEFAULT_GRID) -> pd.DataFrame:
    """Per run and kind (category, contrast, general): share of prompts with p(refuse) >= t
    at each grid value. From per-prompt scores (scores.csv)."""
    grid = np.asarray(grid, dtype=float)
    if scores.empty or "p_refuse" not in scores.columns:
        return pd.DataFrame(columns=["run_id", "kind", "threshold", "refusal_rate", "n"])
    keys = pd.MultiIndex.from_arrays([scores["run_id"].astype(str), _kind_column(scores)])
    codes, groups = pd.factorize(keys, sort=True)
    p = scores["p_refuse"].to_numpy(dtype=float)
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1]
    # prompts x grid, summed over the prompts of each (run, kind)
    refused = np.add.reduceat((p[order, None] >= grid[None, :]).astype(np.int32), starts, axis=0)
    n = np.bincount(codes, minlength=len(groups)).astype(float)
    return pd.DataFrame(
        {
            "run_id": np.repeat(groups.get_level_values(0).to_numpy(dtype=object), len(grid)),
            "kind": np.repeat(groups.get_level_values(1).to_numpy(dtype=object), len(grid)),
            "threshold": np.tile(grid, len(groups)),
            "refusal_rate": (refused / n[:, None]).ravel(),
            "n": np.repeat(n.astype(int), len(grid)),
        }
    )


def refusal_rate_by_kind_from_curves(grid_curves: pd.DataFrame) -> pd.DataFrame:
    """The fallback without per-prompt scores: a threshold curve only tells the refusal rate
    over all should-refuse prompts (recall) and all should-answer prompts (false-refusal rate)."""
    a = grid_curves.assign(
        kind=SHOULD_REFUSE_ALL, refusal_rate=grid_curves["recall"], n=grid_curves["tp"] + grid_curves["fn"]
    )
    b = grid_curves.assign(
        kind=SHOULD_ANSWER_ALL, refusal_rate=grid_curves["false_refusal_rate"], n=grid_curves["fp"] + grid_curves["tn"]
    )
    return pd.concat([a, b], ignore_index=True)[["run_id", "kind", "threshold", "refusal_rate", "n"]]


def mean_kind_rates_by_config(kind_rates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    runs = with_configs(runs)
    keys = config_columns(runs) + ["config_id"]
    merged = kind_rates.merge(runs[["run_id", *keys]], on="run_id", how="inner")
    return _spread(merged, keys + ["kind", "threshold"], ["refusal_rate"])


# ----------------------------------------------------------------------------- category control


def category_control_matrix(scores: pd.DataFrame, runs: pd.DataFrame, threshold: float = math.inf) -> pd.DataFrame:
    """Suppress one category token c (the paper's rule with S = {c} and threshold t: a prompt
    whose top category is c refuses only if p(c) >= t; t = inf never) and measure every
    kind's refusal rate against the model's own choice (the default rule).

    One row per category-scheme run with scores, suppressed token and kind: base_rate,
    rate, change = rate - base_rate."""
    tokens = control_tokens("category")
    prob_cols = [f"p{t}" for t in tokens]
    columns = ["run_id", "suppressed", "kind", "base_rate", "rate", "change", "n"]
    if scores.empty or not set(prob_cols) <= set(scores.columns):
        return pd.DataFrame(columns=columns)
    s = scores[scores["run_id"].isin(set(runs.loc[runs["scheme"] == "category", "run_id"]))]
    if s.empty:
        return pd.DataFrame(columns=columns)
    # The rules decide per prompt, so all runs' prompts go through them at once.
    probs = s[prob_cols].to_numpy(dtype=float)
    codes, groups = pd.factorize(pd.MultiIndex.from_arrays([s["run_id"].astype(str), _kind_column(s)]), sort=True)
    n = np.bincount(codes, minlength=len(groups)).astype(float)
    base = np.bincount(codes, decisions.is_refusal(decisions.model_choice(probs), tokens), len(groups)) / n
    frames = []
    for tok in tokens[1:]:
        refused = decisions.is_refusal(decisions.category_rule(probs, tokens, {tok}, threshold), tokens)
        rate = np.bincount(codes, refused, len(groups)) / n
        frames.append(
            pd.DataFrame(
                {
                    "run_id": groups.get_level_values(0),
                    "suppressed": CATEGORY_SLUGS[tok[1:-1]],
                    "kind": groups.get_level_values(1),
                    "base_rate": base,
                    "rate": rate,
                    "change": rate - base,
                    "n": n.astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[columns]


def mean_control_matrix(control: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per config: suppressed token x kind, change of refusal rate averaged over seeds."""
    runs = with_configs(runs)
    keys = config_columns(runs) + ["config_id"]
    merged = control.merge(runs[["run_id", *keys]], on="run_id", how="inner")
    return _spread(merged, keys + ["suppressed", "kind"], ["change", "base_rate", "rate"])


# ----------------------------------------------------------------------------- one row per config


def paper_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per config with mean/std/min/max over seeds of every headline metric."""
    runs = with_configs(runs)
    keys = config_columns(runs) + ["config_id"]
    return _spread(runs, keys, list(PAPER_METRICS)).sort_values(
        ["scheme", "contrast_ratio"], kind="stable", ignore_index=True
    )


def format_threshold(t: float, digits: int = 3) -> str:
    """A threshold with `digits` significant digits, so p(refuse) near 0.002 never reads "0.00"."""
    if t is None or t != t:
        return "n/a"
    return f"{t:.{digits}g}"


def _pm(row, metric: str, kind) -> str:
    """'mean ± std'; kind True = percent, False = 3 decimals, "sig" = significant digits (thresholds)."""
    m, s = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "n/a"
    has_s = s is not None and not (isinstance(s, float) and math.isnan(s))
    if kind == "sig":
        return format_threshold(m) + (f" ± {format_threshold(s, 2)}" if has_s else "")
    scale, unit = (100.0, "%") if kind else (1.0, "")
    text = f"{scale * m:.1f}{unit}" if kind else f"{m:.3f}"
    if has_s:
        text += f" ± {scale * s:.1f}" if kind else f" ± {s:.3f}"
    return text


HEADLINE = (
    ("F1 (default)", "eval/f1", False),
    ("best F1", "eval/best_f1", False),
    ("at t", "eval/best_threshold", "sig"),
    ("AUROC", "eval/auroc", False),
    ("false refusal (II)", "eval/false_refusal_rate", True),
    ("missed refusal (I)", "eval/missed_refusal_rate", True),
    ("contrast refused", "eval/refusal_rate/contrast", True),
)


def headline_frame(paper: pd.DataFrame) -> pd.DataFrame:
    """The paper table as text cells 'mean ± std' (std over seeds), one row per config."""
    rows = []
    for r in paper.to_dict("records"):
        row = {"config": r["config_id"], "seeds": int(r["n_seeds"])}
        for label, metric, pct in HEADLINE:
            row[label] = _pm(r, metric, pct)
        rows.append(row)
    return pd.DataFrame(rows, columns=["config", "seeds"] + [h[0] for h in HEADLINE])


# ----------------------------------------------------------------------------- benchmark sets

BENCHMARK_METRICS = (
    ("refused (should refuse)", "refused_should_refuse", True),
    ("refused (should answer)", "refused_should_answer", True),
    ("AUROC", "auroc", False),
)
AVERAGE_SETS = ("pooled", "mean_over_sets")  # pooled over items vs plain mean over sets: named apart


def benchmarks_by_config(runs: pd.DataFrame, benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Per config and benchmark set (from `refusal-lab eval` runs of the sweep's checkpoints):
    refusal rate on should-refuse rows (1 - missed refusals), on should-answer rows (false
    refusals) and AUROC; mean/std/min/max over the seeds of the training runs. An eval run of
    a checkpoint outside the sweep is its own config, named by its checkpoint."""
    if not len(benchmarks):
        return pd.DataFrame()
    configs = (
        with_configs(runs)[["run_id", "config_id"]] if len(runs) else pd.DataFrame(columns=["run_id", "config_id"])
    )
    merged = benchmarks.merge(configs, on="run_id", how="left")
    merged["config_id"] = merged["config_id"].fillna("checkpoint " + merged["checkpoint"].astype(str))
    out = _spread(merged, ["config_id", "set"], [m for _, m, _ in BENCHMARK_METRICS])
    order = out["set"].map(lambda s: AVERAGE_SETS.index(s) + 1 if s in AVERAGE_SETS else 0)
    out = out.assign(_order=order).sort_values(["config_id", "_order", "set"], kind="stable", ignore_index=True)
    return out.drop(columns="_order")  # per config: the sets alphabetically, then pooled, then mean_over_sets


def benchmark_frame(by_config: pd.DataFrame) -> pd.DataFrame:
    """benchmarks_by_config as text cells 'mean ± std', one row per config and set."""
    rows = [
        {"config": r["config_id"], "set": r["set"], "seeds": int(r["n_seeds"])}
        | {label: _pm(r, metric, pct) for label, metric, pct in BENCHMARK_METRICS}
        for r in by_config.to_dict("records")
    ]
    return pd.DataFrame(rows, columns=["config", "set", "seeds"] + [b[0] for b in BENCHMARK_METRICS])


def format_text_table(frame: pd.DataFrame) -> str:
    """Fixed-width text, for the terminal."""
    cols = list(frame.columns)
    cells = [[str(c) for c in cols]] + [[str(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in frame.itertuples(index=False, name=None):
        out.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(out)


def unfinished_jobs(planned: pd.DataFrame) -> pd.DataFrame:
    """Planned jobs without results: what the report must list."""
    if planned.empty:
        return planned
    return planned[~planned["has_results"].astype(bool)].reset_index(drop=True)


def category_independence(control: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per category config, pooled over seeds: every kind's refusal rate with nothing suppressed
    ("none": the model's own choice) and with each category token suppressed (controlled set of
    one), with counts and a 95% Wilson interval. Columns: config_id, suppressed, kind, refused,
    n, rate, low, high."""
    from refusal_lab.steering.calibration import wilson

    columns = ["config_id", "suppressed", "kind", "refused", "n", "rate", "low", "high"]
    if control.empty:
        return pd.DataFrame(columns=columns)
    c = control.merge(with_configs(runs)[["run_id", "config_id"]], on="run_id", how="inner")
    base = c.drop_duplicates(["run_id", "kind"]).assign(suppressed="none", rate=lambda f: f["base_rate"])
    both = pd.concat([base, c], ignore_index=True)
    both["refused"] = np.rint(both["rate"] * both["n"]).astype(int)
    out = both.groupby(["config_id", "suppressed", "kind"], sort=False)[["refused", "n"]].sum().reset_index()
    out["rate"] = out["refused"] / out["n"]
    bounds = [wilson(int(k), int(n)) for k, n in zip(out["refused"], out["n"])]
    out["low"], out["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return out[columns]
