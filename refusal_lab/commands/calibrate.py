"""`refusal-lab calibrate scores=RUN/scores.csv target.humanizing=0.05 target.should_refuse=0.9 out=policy.yaml`

Thresholds that meet target refusal rates on a calibration part of the scores, checked on a
held-out part; writes the policy YAML and a JSON report beside it. Keys: conf/calibrate.yaml,
schema config.CalibrateConfig (`refusal-lab calibrate --help`); the targets and their
groups: steering/calibration.py.
"""

from __future__ import annotations

from pathlib import Path

from refusal_lab.commands.arguments import fail, parse
from refusal_lab.config import CalibrateConfig, ConfigError, InputError


def _target_args(target) -> dict[str, str]:
    return {f"target.{k}": str(v) for k, v in (target or {}).items()} if isinstance(target, dict) else {}


def _target_problems(raw: dict) -> list[str]:
    from refusal_lab.steering.calibration import parse_targets

    try:
        parse_targets(_target_args(raw.get("target")))
    except ConfigError as exc:
        return exc.problems
    return []


def _targets(args: CalibrateConfig) -> list:
    from refusal_lab.steering.calibration import Target, parse_targets

    targets = parse_targets(_target_args(args.target))
    if args.max_contrast_refusal is not None:
        targets.append(Target("contrast", args.max_contrast_refusal, is_max=True))
    return targets


def _parts(args: CalibrateConfig):
    """(calibration part, held-out part) of the scores."""
    import pandas as pd

    from refusal_lab.steering.calibration import split

    if not args.scores:
        raise InputError("scores=None: give the scores.csv of a run, e.g. scores=outputs/runs/<date>/<run>/scores.csv")
    if not Path(args.scores).is_file():
        raise InputError(f"scores={args.scores!r}: no such file")
    if args.held_out and not Path(args.held_out).is_file():
        raise InputError(f"held_out={args.held_out!r}: no such file")
    df = pd.read_csv(args.scores, keep_default_na=False)
    if args.held_out:
        return df, pd.read_csv(args.held_out, keep_default_na=False)
    if not 0 < args.calib_fraction < 1:
        raise InputError(f"calib_fraction={args.calib_fraction}: must be between 0 and 1 (exclusive)")
    return split(df, args.calib_fraction, args.seed)


def main(argv: list[str]) -> int:
    import dataclasses
    import json

    from refusal_lab.io import write_text
    from refusal_lab.steering import policy as policy_mod
    from refusal_lab.steering.calibration import calibrate, format_rows, scores_temperature

    args = parse(argv, CalibrateConfig, "calibrate", _target_problems)
    if isinstance(args, int):
        return args
    try:
        targets = _targets(args)
        calib, held = _parts(args)
        pol, rows = calibrate(calib, held, targets, scores_temperature(Path(args.scores), args.temperature))
    except (ConfigError, InputError) as exc:
        return fail("calibrate", exc)
    out = Path(args.out)
    summary = "\n".join(
        f"{r['part']} {r['group']}: target {r['target']:.3f}, achieved {r['rate']:.3f} (n={r['n']}, 95% CI "
        f"{r['ci_low']:.3f}-{r['ci_high']:.3f})"
        for r in rows
    )
    policy_mod.save(pol, out, f"written by refusal-lab calibrate from {args.scores}\n{summary}")
    settings = {k: v for k, v in dataclasses.asdict(args).items() if k != "target"}
    report = {"policy": pol.as_dict(), "rows": rows, "args": settings, "targets": _target_args(args.target)}
    write_text(out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    print(format_rows(rows))
    print(f"\npolicy written to {out} (report {out.with_suffix('.json')})")
    return 0
