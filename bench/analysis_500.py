"""Time `refusal-lab analyze` on 500 synthetic runs written with real wandb (offline).

    .venv/bin/python bench/analysis_500.py [--runs 500] [--workers 2] [--cache DIR] [--rebuild]

The runs are built once and cached (default: $TMPDIR/refusal-lab-bench/analysis_<n>): each
is a pipeline-style run directory (config.json, summary.json, threshold_curve.csv,
scores.csv, wandb/offline-run-*) whose probabilities are synthetic: p(refuse) drawn per
prompt kind, shifted by contrast ratio and scheme, so the tables have structure. The sweep
dir gets a sweep_manifest.json with the 500 jobs plus 3 planned jobs that never ran.

Printed: the analysis time (read every run + all tables + figures + report), split into
its parts, and the ratio against the baseline measured in the same run: reading the same
runs' summary.json files directly into a DataFrame (what a hand-rolled script would do,
with no W&B, no curves, no scores, no figures). Goal: analysis under 30 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import zlib
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

N_PROMPTS = {
    "incomplete": 10,
    "unsupported": 10,
    "indeterminate": 10,
    "humanizing": 10,
    "safety": 10,
    "contrast": 15,
    "general": 15,
}
SWEEP_ID = "bench-500"


def job_grid(n: int) -> list[dict]:
    """scheme x contrast ratio x mix.total x seed, cut to n jobs."""
    combos = itertools.product(
        ("single", "category"), (0.0, 0.25, 0.5, 1.0, 2.0), (200, 500, 1000, 2000, 4000), range(100)
    )
    jobs = [{"scheme": s, "cr": c, "total": t, "seed": d} for s, c, t, d in combos]
    jobs.sort(key=lambda j: (j["seed"], j["scheme"], j["cr"], j["total"]))
    return jobs[:n]


def synthetic_scores(job: dict) -> pd.DataFrame:
    from refusal_lab.definitions import CATEGORY_SLUGS, SLUG_TO_CATEGORY, control_tokens

    rng = np.random.default_rng(zlib.crc32(repr(sorted(job.items())).encode()))
    tokens = control_tokens(job["scheme"])
    rows = []
    for kind, n in N_PROMPTS.items():
        refuse = kind in CATEGORY_SLUGS.values()
        # more contrast data -> fewer false refusals and a little more missed refusals
        centre = (1.5 - 0.3 * job["cr"]) if refuse else (-0.5 - 1.2 * job["cr"] if kind == "contrast" else -2.5)
        logit = rng.normal(centre + np.log10(job["total"]) / 4, 1.2, n)
        p_ref = 1 / (1 + np.exp(-logit))
        for i in range(n):
            r = {
                "id": f"{kind}-{i}",
                "source": "refusal" if refuse else kind,
                "category": SLUG_TO_CATEGORY[kind] if refuse else "",
                "should_refuse": refuse,
            }
            if job["scheme"] == "single":
                r["p[respond]"], r["p[refuse]"] = 1 - p_ref[i], p_ref[i]
            else:
                share = rng.dirichlet(np.ones(5) * 0.5)
                if refuse:  # the right category gets most of the refusal mass
                    share = 0.3 * share + 0.7 * (np.arange(5) == list(CATEGORY_SLUGS.values()).index(kind))
                r["p[respond]"] = 1 - p_ref[i]
                for t, s in zip(tokens[1:], share):
                    r[f"p{t}"] = p_ref[i] * s
            rows.append(r)
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame, scheme: str):
    """The summary pipeline.evaluate would log, from scores (same metric functions)."""
    from refusal_lab.steering import decisions
    from refusal_lab.evaluation import metrics
    from refusal_lab.definitions import control_tokens, refusal_rate_key

    tokens = control_tokens(scheme)
    probs = scores[[f"p{t}" for t in tokens]].to_numpy()
    y = scores["should_refuse"].to_numpy()
    score = decisions.refusal_score(probs, tokens)
    refused = decisions.is_refusal(decisions.model_choice(probs), tokens)
    scores["p_refuse"], scores["refused_default"] = score, refused
    curve = metrics.threshold_curve(score, y)
    best_f1, best_t = metrics.best_threshold(curve)
    at = metrics.binary_metrics(refused, y)
    summary = {
        f"eval/{k}": at[k]
        for k in ("f1", "precision", "recall", "false_refusal_rate", "missed_refusal_rate", "refusal_rate")
    }
    summary |= {
        "eval/auroc": metrics.auroc(score, y),
        "eval/best_f1": best_f1,
        "eval/best_threshold": best_t,
        "eval/n_prompts": len(y),
    }
    groups = [refusal_rate_key(s, c or None) for s, c in zip(scores["source"], scores["category"])]
    for g, rate in metrics.refusal_rates_by_group(refused, groups).items():
        summary[f"eval/refusal_rate/{g}"] = rate
    return summary, curve


def write_runs(args: tuple[Path, list[tuple[int, dict]]]) -> int:
    """One worker: a block of runs, each a real offline wandb run (init, log, table, finish)."""
    root, block = args
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        os.environ[var] = str(root / ".wandb_env" / var.lower())
    import wandb

    from refusal_lab.config import RunConfig, to_dict

    for index, job in block:
        run_dir = root / "runs" / f"{index:04d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg = to_dict(RunConfig())
        cfg["tokens"]["scheme"], cfg["mix"]["contrast_ratio"], cfg["mix"]["total"] = (
            job["scheme"],
            job["cr"],
            job["total"],
        )
        cfg["seed"] = cfg["train"]["seed"] = job["seed"]
        cfg["logger"]["group"] = SWEEP_ID
        scores = synthetic_scores(job)
        summary, curve = summarise(scores, job["scheme"])
        (run_dir / "config.json").write_text(json.dumps(cfg))
        scores.to_csv(run_dir / "scores.csv", index=False)
        curve.to_csv(run_dir / "threshold_curve.csv", index=False)
        run = wandb.init(
            project="refusal-lab",
            group=SWEEP_ID,
            name=f"bench-{index:04d}",
            mode="offline",
            dir=str(run_dir),
            config=cfg,
        )
        for step in range(0, 100, 10):
            run.log({"train/loss": 5.0 / (1 + step)}, step=step)
        run.log({"eval/threshold_curve": wandb.Table(dataframe=curve)}, step=100)
        for k, v in summary.items():
            run.summary[k] = v
        (run_dir / "wandb_run_id").write_text(run.id)
        run.finish(exit_code=0)
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return len(block)


def build(root: Path, n: int, workers: int) -> float:
    if root.exists():
        shutil.rmtree(root)
    (root / "runs").mkdir(parents=True)
    jobs = list(enumerate(job_grid(n)))
    blocks = [(root, jobs[i::workers]) for i in range(workers)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        assert sum(pool.map(write_runs, blocks)) == n
    manifest_jobs = [
        {
            "index": i,
            "overrides": [
                f"tokens={j['scheme']}",
                f"mix.contrast_ratio={j['cr']}",
                f"mix.total={j['total']}",
                f"seed={j['seed']}",
            ],
            "run_dir": f"runs/{i:04d}",
            "slurm_job_id": str(1000 + i),
            "status": "completed",
            "log": None,
        }
        for i, j in jobs
    ]
    manifest_jobs += [
        {
            "index": n + k,
            "overrides": ["tokens=category", "mix.contrast_ratio=2.0", f"seed={900 + k}"],
            "run_dir": f"runs/never-{k}",
            "slurm_job_id": None,
            "status": "pending",
            "log": None,
        }
        for k in range(3)
    ]
    (root / "sweep_manifest.json").write_text(
        json.dumps({"sweep_id": SWEEP_ID, "created": "2026-01-01T00:00:00", "jobs": manifest_jobs})
    )
    (root / "COMPLETE").write_text(str(n))
    return time.perf_counter() - t0


def baseline(root: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/summary.json"))]
    frame = pd.DataFrame(rows)
    return time.perf_counter() - t0, len(frame)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--workers", type=int, default=2, help="processes writing runs (each starts its own wandb-core)")
    p.add_argument("--cache", default=None, help="where the runs are built and kept")
    p.add_argument("--rebuild", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(args.cache or Path(tempfile.gettempdir()) / "refusal-lab-bench" / f"analysis_{args.runs}")
    marker = root / "COMPLETE"
    if args.rebuild or not marker.exists() or marker.read_text() != str(args.runs):
        secs = build(root, args.runs, args.workers)
        print(f"built {args.runs} offline W&B runs in {secs:.1f} s ({args.workers} workers) under {root}")
    else:
        print(f"using cached runs under {root}")

    import wandb  # noqa: F401  (imported up front: its ~1 s import is not analysis time)

    from refusal_lab.analysis.report import analyze, write_report
    from refusal_lab.analysis.sweep_dir_source import load_sweep_dir

    base_s, n_base = baseline(root)
    out = root / "analysis"
    t0 = time.perf_counter()
    data = load_sweep_dir(root)
    t1 = time.perf_counter()
    result = analyze(data)
    t2 = time.perf_counter()
    written = write_report(data, out, result)
    t3 = time.perf_counter()
    total = t3 - t0
    assert len(data.runs) == n_base == args.runs, (len(data.runs), n_base)
    assert len(result.tables["unfinished_jobs"]) == 3
    print(
        f"runs analysed: {len(data.runs)} ({len(result.tables['paper_table'])} configs), "
        f"unfinished planned jobs listed: {len(result.tables['unfinished_jobs'])}"
    )
    print(
        f"analysis total: {total:.2f} s  (read runs {t1 - t0:.2f} s, tables {t2 - t1:.2f} s, "
        f"CSV + figures + report {t3 - t2:.2f} s)  goal < 30 s: {'met' if total < 30 else 'NOT met'}"
    )
    print(f"baseline (read {n_base} summary.json into a DataFrame): {base_s:.3f} s")
    print(f"ratio analysis / baseline: {total / base_s:.0f}x   report: {written.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
