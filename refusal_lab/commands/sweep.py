"""`refusal-lab sweep status|resubmit|run|dry-run ...`: follow and rerun Hydra multiruns.

The sweep itself is `refusal-lab -m ...` (Hydra's multirun with this project's launcher and
pre-flight); the logic lives in experiments/sweeps.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from refusal_lab.experiments import sweeps

USAGE = """usage:
  refusal-lab sweep status DIR [--watch]       refresh statuses (sacct, run dirs) and print them
  refusal-lab sweep resubmit DIR [OVERRIDES]   run the sweep again into DIR: finished jobs are skipped,
                                               the others resume (e.g. hydra.launcher.timeout_min=480)
  refusal-lab sweep run|dry-run OVERRIDES      the same as `refusal-lab -m OVERRIDES [--dry-run]`"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("status", "resubmit", "run", "dry-run"):
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(USAGE, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    command, rest = argv[0], argv[1:]
    try:
        if command in ("run", "dry-run"):
            return multirun(["-m", *rest] + (["--dry-run"] if command == "dry-run" else []))
        if not rest:
            raise FileNotFoundError(f"`refusal-lab sweep {command}` needs a sweep dir")
        if command == "resubmit":
            return multirun(sweeps.resubmit_argv(Path(rest[0]), rest[1:]))
        manifest = sweeps.wait(Path(rest[0])) if "--watch" in rest else sweeps.refresh(Path(rest[0]))
        if "--watch" not in rest:
            print(sweeps.format_status(manifest))
    except FileNotFoundError as exc:
        print(f"refusal-lab sweep: {exc}", file=sys.stderr)
        return 2
    return 1 if any(j["status"] in ("failed", "timeout", "cancelled") for j in manifest["jobs"]) else 0


def multirun(args: list[str]) -> int:
    """`refusal-lab -m ARGS` in this process; its exit status."""
    from refusal_lab.commands import train

    try:
        return train.main(sweeps.hydra_argv(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
