"""`refusal-lab analyze <sweep dir | entity/project> [--group ID] [--out DIR] [--push]`.

Reads the runs (sources.load_runs), writes CSV tables, PNG figures and
report.md into --out, prints the headline table and the unfinished jobs.
Exit codes: 0 done, 1 no run has results (the report is still written), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

USAGE_EXAMPLES = """examples:
  refusal-lab analyze outputs/multirun/2026-01-01_10-00-00
  refusal-lab analyze sweeps/cr-scheme --out reports/cr-scheme --push
  refusal-lab analyze my-team/refusal-lab --group cr-scheme-0107 --config tokens.scheme=category
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="refusal-lab analyze",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Tables, plots and a report from a sweep directory or a W&B project.",
    )
    p.add_argument(
        "target",
        help="a sweep directory (sweep_manifest.json, Hydra multirun, or any folder of runs) or a W&B entity/project",
    )
    p.add_argument("--group", help="only runs in this W&B group (= the sweep id)")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag (repeatable: any of them)")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only runs whose config KEY equals VALUE, e.g. tokens.scheme=category (repeatable: all of them)",
    )
    p.add_argument(
        "--out", help="output folder (default: <sweep dir>/analysis, or outputs/analysis/<entity>_<project>[_<group>])"
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="log the tables and figures to W&B as a report run in the same group "
        "(offline for a sweep dir, online for entity/project)",
    )
    p.add_argument("--cache-dir", help="W&B API cache (default ~/.cache/refusal-lab/wandb-api or $REFUSAL_LAB_CACHE)")
    p.add_argument("--page-size", type=int, default=100, help="runs per W&B API page")
    return p.parse_args(argv)


def parse_config_filters(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--config {item!r}: expected KEY=VALUE, e.g. mix.contrast_ratio=0.5")
        out[key.removeprefix("config.")] = yaml.safe_load(value)
    return out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from refusal_lab.analysis.report import headline_text, write_report
    from refusal_lab.analysis.sources import is_sweep_dir, load_runs

    t0 = time.perf_counter()
    try:
        config = parse_config_filters(args.config)
        data = load_runs(
            args.target,
            group=args.group,
            tags=args.tag or None,
            config=config or None,
            cache_dir=args.cache_dir,
            per_page=args.page_size,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"refusal-lab analyze: {e}", file=sys.stderr)
        return 2
    local = is_sweep_dir(args.target)
    if args.out:
        out = Path(args.out)
    elif local:
        out = Path(args.target) / "analysis"
    else:
        out = (
            Path("outputs")
            / "analysis"
            / "_".join([args.target.replace("/", "_")] + ([args.group] if args.group else []))
        )
    written = write_report(data, out)

    print(
        f"{data.source}: {len(data.runs)} run(s) with results"
        + (f" of {len(data.planned)} planned" if len(data.planned) else "")
    )
    print()
    print(headline_text(written.analysis))
    unfinished = written.analysis.tables["unfinished_jobs"]
    if len(unfinished):
        print(f"\n{len(unfinished)} planned job(s) without results:")
        for j in unfinished.to_dict("records"):
            print(f"  #{j['index']} {j['status']:<10} {' '.join(j['overrides'] or [])}  ({j['reason']})")
    print(f"\nreport: {written.report}")
    print(f"figures: {', '.join(str(p) for p in written.figures.values())}")
    print(f"tables: {out / 'tables'}/*.csv  ({time.perf_counter() - t0:.1f} s)")
    if args.push:
        from refusal_lab.analysis.push import push_report

        entity, project = (None, "refusal-lab") if local else args.target.split("/", 1)
        if local and len(data.runs):
            project = (
                str(data.runs["config.logger.project"].dropna().iloc[0])
                if "config.logger.project" in data.runs
                else project
            )
        run_id = push_report(
            written, data.sweep_id, project=project, entity=entity, mode="offline" if local else "online"
        )
        print(f"pushed to W&B as run {run_id} (group {data.sweep_id})" + (f" under {out / 'wandb'}" if local else ""))
    return 0 if len(data.runs) else 1
