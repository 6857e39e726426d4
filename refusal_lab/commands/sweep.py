"""`refusal-lab sweep dry-run|run|status|resubmit ...`: validated sweeps with a manifest.

    refusal-lab sweep dry-run [launcher=NAME] [launcher.KEY=VALUE ...] OVERRIDES...
    refusal-lab sweep run     [--wait] [--sweep-dir DIR] [launcher=NAME] [launcher.KEY=VALUE ...] OVERRIDES...
    refusal-lab sweep status  SWEEP_DIR [--watch]
    refusal-lab sweep resubmit SWEEP_DIR [--wait] [launcher.KEY=VALUE ...]

A verb and positional targets, so argparse reads the command line; the overrides go to
experiments/sweeps.py, which composes and validates every job (config.validate + preflight)
and the launcher profile before anything is submitted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from refusal_lab.config import ConfigError
from refusal_lab.experiments import sweeps


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refusal-lab sweep", description=sweeps.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("dry-run", "run"):
        p = sub.add_parser(name, help="print the plan" if name == "dry-run" else "validate, then submit")
        p.add_argument("overrides", nargs="*", help="launcher=NAME, launcher.KEY=VALUE and Hydra overrides (key=a,b sweeps)")
        p.add_argument("--sweep-dir", type=Path, help="sweep dir (default: <launcher.sweep_root>/<sweep id>); an existing one is rerun")
        if name == "run":
            p.add_argument("--wait", action="store_true", help="wait for every job and print the statuses")
    p = sub.add_parser("status", help="refresh and print the manifest")
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--watch", action="store_true", help="poll until every job has ended")
    p = sub.add_parser("resubmit", help="submit again every job without summary.json (they resume)")
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("overrides", nargs="*", help="launcher.KEY=VALUE (e.g. launcher.timeout_min=600)")
    p.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command in ("dry-run", "run"):
            sweep_dir, manifest = sweeps.run_sweep(args.overrides, args.sweep_dir, dry_run=args.command == "dry-run")
            if args.command == "run" and args.wait and sweeps.is_slurm(sweep_dir):
                manifest = sweeps.wait(sweep_dir)
        elif args.command == "resubmit":
            saved = json.loads((args.sweep_dir / sweeps.PLAN).read_text())
            launcher = [f"launcher.{k}={json.dumps(v)}" for k, v in saved["launcher"].items()]
            extra = [a if a.startswith("launcher") else f"launcher.{a}" for a in args.overrides]
            sweep_dir, manifest = sweeps.run_sweep(launcher + extra + saved["overrides"], args.sweep_dir)
            if args.wait and sweeps.is_slurm(sweep_dir):
                manifest = sweeps.wait(sweep_dir)
        else:
            manifest = sweeps.wait(args.sweep_dir) if args.watch else sweeps.refresh(args.sweep_dir)
            if not args.watch:
                print(sweeps.format_status(manifest))
    except ConfigError as exc:
        print(f"refusal-lab sweep: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"refusal-lab sweep: {exc}", file=sys.stderr)
        return 2
    if args.command == "dry-run":
        return 0
    return 1 if any(j["status"] in ("failed", "timeout", "cancelled") for j in manifest["jobs"]) else 0
