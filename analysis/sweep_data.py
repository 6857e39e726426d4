"""The tables every source returns, and how one run becomes rows of them (pure).

Both sources (run directories on disk, the W&B public API) hand back a
`SweepData`; everything downstream (tables, plots, report) reads only that, so
an analysis gives the same result whichever way the runs arrived.

* `runs`: one row per run that has results. Columns: run_id, name, group,
  tags (comma-joined), state, job_type, run_dir (or W&B path), every scalar
  summary value under its own key ("eval/f1", "eval/refusal_rate/contrast",
  ...), and every config value flattened with a "config." prefix
  ("config.mix.contrast_ratio"). Also scheme, contrast_ratio and seed, copied
  from the config so that tables can name them plainly.
* `curves`: the logged threshold curve of every run, long: run_id + the columns
  of metrics.threshold_curve (threshold, tp, fp, fn, tn, precision, recall, f1,
  false_refusal_rate, missed_refusal_rate, refusal_rate).
* `scores`: per-prompt probabilities (scores.csv) when the source has them,
  long: run_id + the scores.csv columns; empty otherwise (the W&B API has no
  per-prompt table).
* `benchmarks`: the results of `refusal-lab eval ... suite=/sets=` runs (job_type eval),
  long: one row per eval run and set (plus "pooled" and "mean_over_sets"): eval_run_id,
  run_id (the training run whose checkpoint it evaluated, when that run is among the
  runs), checkpoint, set, n, refused_should_refuse, refused_should_answer, auroc.
* `planned`: one row per planned job of the sweep, with or without results:
  index, overrides, run_dir, status, slurm_job_id, log, run_id, has_results,
  reason. Empty when the runs were not planned by a sweep (a loose folder or a
  W&B filter): nothing can be known to be missing then.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

CURVE_COLUMNS = (
    "threshold",
    "tp",
    "fp",
    "fn",
    "tn",
    "precision",
    "recall",
    "f1",
    "false_refusal_rate",
    "missed_refusal_rate",
    "refusal_rate",
)
PLANNED_COLUMNS = ("index", "overrides", "run_dir", "status", "slurm_job_id", "log", "run_id", "has_results", "reason")
CURVE_TABLE_KEY = "eval/threshold_curve"  # the key pipeline.run logs its curve under
RESULT_KEY = "eval/f1"  # a run without this summary key has no results
ANALYSIS_JOB_TYPE = "analysis"  # our own report runs: never analysed as sweep runs
EVAL_JOB_TYPE = "eval"  # `refusal-lab eval` over benchmark sets: rows of `benchmarks`, not of `runs`
BENCHMARK_COLUMNS = (
    "eval_run_id",
    "run_id",
    "checkpoint",
    "set",
    "n",
    "refused_should_refuse",
    "refused_should_answer",
    "auroc",
)

# Where the headline config values live in the nested config.
SCHEME_KEY = "config.tokens.scheme"
CONTRAST_KEY = "config.mix.contrast_ratio"
SEED_KEY = "config.seed"


@dataclasses.dataclass
class RunRecord:
    """One run as a source read it, before it becomes table rows."""

    run_id: str
    name: str
    group: str | None
    tags: list[str]
    state: str  # finished | failed | incomplete | running | crashed ...
    job_type: str | None
    location: str  # run directory, or entity/project/id for the API
    config: dict  # nested, same shape as refusal_lab.config.to_dict
    summary: dict  # flat keys as logged
    curve: pd.DataFrame | None = None  # the logged threshold-curve table
    scores: pd.DataFrame | None = None  # scores.csv

    @property
    def has_results(self) -> bool:
        return _is_number(self.summary.get(RESULT_KEY))

    @property
    def is_benchmark_eval(self) -> bool:
        return (self.job_type or self.config.get("job_type")) == EVAL_JOB_TYPE and bool(self.summary.get("eval/sets"))


@dataclasses.dataclass
class SweepData:
    sweep_id: str | None
    source: str  # human-readable: "sweep dir /x" or "wandb entity/project"
    runs: pd.DataFrame
    curves: pd.DataFrame
    scores: pd.DataFrame
    planned: pd.DataFrame
    warnings: list[str] = dataclasses.field(default_factory=list)
    benchmarks: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=BENCHMARK_COLUMNS))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def flatten(d: dict, prefix: str = "") -> dict:
    """{"mix": {"seed": 0}} -> {"mix.seed": 0}; lists are kept as values."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _cell(v):
    """A value a DataFrame cell can hold and compare: lists/dicts become their repr."""
    if isinstance(v, (list, tuple, dict)):
        return repr(v) if v else ""
    return v


def run_row(rec: RunRecord) -> dict:
    row = {
        "run_id": rec.run_id,
        "name": rec.name,
        "group": rec.group,
        "tags": ",".join(rec.tags),
        "state": rec.state,
        "job_type": rec.job_type,
        "run_dir": rec.location,
    }
    for k, v in rec.summary.items():
        if isinstance(v, dict) or k.startswith("_"):
            continue  # table references and wandb's own bookkeeping
        row[k] = _cell(v)
    for k, v in flatten(rec.config).items():
        row["config." + k] = _cell(v)
    row["scheme"] = row.get(SCHEME_KEY)
    row["contrast_ratio"] = row.get(CONTRAST_KEY)
    row["seed"] = row.get(SEED_KEY)
    return row


def benchmark_rows(rec: RunRecord, train_run_id: str | None) -> list[dict]:
    """One row per set of an eval run's `eval/<set>/...` summary, then the pooled (over items)
    and the plain-mean-over-sets rows, kept apart as the eval command names them."""
    s = rec.summary
    base = {"eval_run_id": rec.run_id, "run_id": train_run_id, "checkpoint": rec.config.get("checkpoint")}
    rows = []
    for name in [n for n in str(s.get("eval/sets", "")).split(",") if n] + ["pooled"]:
        p = f"eval/{name}/"
        n = s.get(f"{p}n", sum(s.get(f"{p}{label}/n", 0) or 0 for label in ("should_refuse", "should_answer")))
        rows.append(
            base
            | {
                "set": name,
                "n": n,
                "refused_should_refuse": s.get(f"{p}should_refuse/refusal_rate"),
                "refused_should_answer": s.get(f"{p}should_answer/refusal_rate"),
                "auroc": s.get(f"{p}auroc"),
            }
        )
    mean = "eval/mean_over_sets/"
    rows.append(
        base
        | {
            "set": "mean_over_sets",
            "n": s.get(f"{mean}should_refuse/n_sets"),
            "refused_should_refuse": s.get(f"{mean}should_refuse/refusal_rate"),
            "refused_should_answer": s.get(f"{mean}should_answer/refusal_rate"),
            "auroc": None,
        }
    )
    return rows


def _evaluated_run(rec: RunRecord, run_by_dir: dict[Path, str]) -> str | None:
    """The training run whose <run_dir>/checkpoint an eval run read (run directories on disk)."""
    checkpoint = rec.config.get("checkpoint")
    return run_by_dir.get(Path(str(checkpoint)).resolve().parent) if checkpoint else None


def curve_frame(run_id: str, curve: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(
            f"threshold curve of run {run_id} lacks columns {missing}; "
            f"expected {list(CURVE_COLUMNS)} (as metrics.threshold_curve writes them)"
        )
    out = curve.loc[:, list(CURVE_COLUMNS)].astype(float)
    out.insert(0, "run_id", run_id)
    return out


def build(
    records: list[RunRecord], planned: list[dict], sweep_id: str | None, source: str, warnings: list[str] | None = None
) -> SweepData:
    """SweepData from the records of a source; runs without results stay out of `runs`
    (they show in `planned`, or in the warnings when nothing planned them)."""
    warnings = list(warnings or [])
    evals = [r for r in records if r.is_benchmark_eval]
    records = [r for r in records if not r.is_benchmark_eval]
    with_results = [r for r in records if r.has_results]
    run_by_dir = {Path(r.location).resolve(): r.run_id for r in with_results} if evals else {}
    benchmarks = [row for r in evals for row in benchmark_rows(r, _evaluated_run(r, run_by_dir))]
    for r in records:
        if not r.has_results and not any(p.get("run_id") == r.run_id for p in planned):
            warnings.append(f"run {r.run_id} ({r.location}) has no results (state {r.state}); left out of the tables")
    runs = pd.DataFrame([run_row(r) for r in with_results])
    if runs.empty:
        runs = pd.DataFrame(
            columns=[
                "run_id",
                "name",
                "group",
                "tags",
                "state",
                "job_type",
                "run_dir",
                "scheme",
                "contrast_ratio",
                "seed",
            ]
        )
    curves = [curve_frame(r.run_id, r.curve) for r in with_results if r.curve is not None and len(r.curve)]
    scores = []
    for r in with_results:
        if r.scores is not None and len(r.scores):
            s = r.scores.copy()
            s.insert(0, "run_id", r.run_id)
            scores.append(s)
    for r in with_results:
        if r.curve is None or not len(r.curve):
            warnings.append(f"run {r.run_id} has no threshold-curve table; left out of the curves")
    return SweepData(
        sweep_id=sweep_id,
        source=source,
        runs=runs,
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["run_id", *CURVE_COLUMNS]),
        scores=pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=["run_id"]),
        planned=pd.DataFrame(planned, columns=list(PLANNED_COLUMNS)),
        warnings=warnings,
        benchmarks=pd.DataFrame(benchmarks, columns=list(BENCHMARK_COLUMNS)),
    )
