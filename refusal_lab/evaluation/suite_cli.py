"""`refusal-lab eval checkpoint=... suite=coconot [sets=xstest,...] [xstest.data_files=...]`:
the command glue around evaluation/suite.py (sets) and suite_eval.py (model).

Every bad input (unknown set, missing column, label outside the map, gated set without a
token, empty set, unknown judge, missing model) is reported before the model is loaded,
with exit status 2 and nothing written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refusal_lab.data.files import DataError


def _model_location(checkpoint: str | None) -> Path:
    if not checkpoint:
        raise DataError(
            "checkpoint=None: give a refusal-lab checkpoint folder (RUN/checkpoint), any Hugging Face "
            "causal LM folder, or a hub name (org/model)"
        )
    path = Path(checkpoint)
    looks_like_hub = not path.exists() and checkpoint.count("/") == 1 and not checkpoint.startswith((".", "/"))
    if not looks_like_hub and not (path / "config.json").exists():
        raise DataError(f"checkpoint={checkpoint!r}: no model there (expected config.json and safetensors)")
    return path


def _group_of(checkpoint: Path) -> str | None:
    """The W&B group of the training run that wrote the checkpoint, if known."""
    run_cfg = checkpoint.parent / "config.json"
    try:
        return (json.loads(run_cfg.read_text()).get("logger") or {}).get("group") if run_cfg.exists() else None
    except (json.JSONDecodeError, AttributeError):
        return None


def prepare(args: dict, overrides: dict):
    """(checkpoint, loaded sets, options): everything checked, nothing loaded but data."""
    from refusal_lab.evaluation import suite, suite_eval

    checkpoint = _model_location(args["checkpoint"])
    if args["logger"] not in ("wandb_offline", "wandb_online", "disabled"):
        raise DataError(f"logger={args['logger']!r}: expected wandb_offline, wandb_online or disabled")
    names = suite.suite_sets(args["suite"], [s.strip() for s in (args["sets"] or "").split(",") if s.strip()])
    sets = suite.load_suite(names, overrides)
    opts = suite_eval.SuiteOptions(
        batch_size=args["batch_size"],
        max_new_tokens=args["max_new_tokens"],
        judges=[j.strip() for j in args["judges"].split(",")] if args["judges"] else None,
        judge_url=args["judge_url"],
        judge_model=args["judge_model"],
        max_prompts=args["max_prompts"],
        seed=args["seed"],
    )
    suite_eval.check_judges(sets, opts)
    return checkpoint, sets, opts


def main(args: dict, overrides: dict) -> int:
    from refusal_lab.steering import policy as policy_mod

    try:
        checkpoint, sets, opts = prepare(args, overrides)
        pol = policy_mod.load(args["policy"]) if args["policy"] else None
    except (DataError, policy_mod.PolicyError) as exc:
        print(f"refusal-lab eval: {exc}", file=sys.stderr)
        return 2
    import torch

    from refusal_lab.config import LoggerConfig
    from refusal_lab.evaluation import suite_eval, suite_metrics
    from refusal_lab.model.loading import load_pretrained

    torch.set_num_threads(args["threads"])
    model, tokenizer = load_pretrained(str(checkpoint))
    scheme = suite_eval.scheme_of(checkpoint, tokenizer)
    if pol is None and scheme != "none":
        pol = policy_mod.Policy(scheme=scheme)
    if pol is not None and scheme == "none":
        print(
            f"refusal-lab eval: policy={args['policy']!r}: the model has no control tokens (scheme none); drop policy=",
            file=sys.stderr,
        )
        return 2
    name = "+".join(s.cfg.name for s in sets) if len(sets) <= 3 else (args["suite"] or "suite")
    out = Path(
        args["out"] or (checkpoint.parent if checkpoint.exists() else Path("outputs")) / f"eval_{Path(name).stem}"
    )
    mode = {"wandb_offline": "offline", "wandb_online": "online", "disabled": "disabled"}[args["logger"]]
    summary = suite_eval.run_suite(
        model, tokenizer, checkpoint, sets, pol, opts, out, LoggerConfig(mode=mode), _group_of(checkpoint)
    )
    print(
        f"scheme {scheme}; refusal decided by {'p(refuse) under the policy' if pol else 'the judged text'}; "
        "rates with bootstrap 95% intervals\n"
    )
    print(suite_metrics.suite_table(summary, [s.cfg.name for s in sets]))
    for s in sets:
        key = f"eval/{s.cfg.name}/respond_then_refused_rate"
        if key in summary:
            print(
                f"{s.cfg.name}: [respond] then refused in words {_pct(summary[key])}, refusal token then answered "
                f"{_pct(summary[f'eval/{s.cfg.name}/refuse_then_answered_rate'])} (per category: consistency.csv)"
            )
    print(
        f"\nwritten to {out}: summary.json, config.json, sets/<set>/scores.csv"
        + (", sets/<set>/threshold_curve.csv" if pol else "")
        + (f", W&B {mode} run (job_type eval)" if mode != "disabled" else "")
    )
    return 0


def _pct(v) -> str:
    return "n/a" if v is None or v != v else f"{100 * v:.1f}%"
