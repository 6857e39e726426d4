"""`refusal-lab eval checkpoint=RUN/checkpoint policy=POLICY.yaml [data=builtin|coconot] ...`
or over benchmark sets: `refusal-lab eval checkpoint=... suite=coconot [sets=xstest] [xstest.data_files=...]`
(evaluation/suite_cli.py).

Scores a checkpoint's eval prompts once, decides them under the policy and writes
scores.csv, rules.csv (every rule setting) and metrics.json; prints the report.
Keys: conf/eval.yaml, schema config.CheckpointEvalConfig (`refusal-lab eval --help`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from refusal_lab.commands.arguments import fail, parse
from refusal_lab.config import CheckpointEvalConfig, InputError


def _inputs(args: CheckpointEvalConfig):
    """Checkpoint, policy and rows, or an InputError/PolicyError naming what is wrong (nothing loaded yet)."""
    from refusal_lab.evaluation.checkpoint_eval import eval_rows
    from refusal_lab.steering import policy as policy_mod

    _judge(args)  # every judge setting checked before anything is loaded
    if not args.checkpoint:
        raise InputError(
            "checkpoint=None: give the checkpoint folder, e.g. checkpoint=outputs/runs/<date>/<run>/checkpoint"
        )
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").exists():
        raise InputError(
            f"checkpoint={str(checkpoint)!r}: no model there (expected config.json and safetensors written by a run)"
        )
    pol = policy_mod.load(args.policy) if args.policy else policy_mod.for_checkpoint(checkpoint)
    return checkpoint, pol, eval_rows(args.data, args.split, checkpoint)


def _judge(args: CheckpointEvalConfig):
    """The judge settings: judge.* with judge_url/judge_model/rubric filling url/model/rubric; InputError if they cannot work."""
    import dataclasses

    from refusal_lab.evaluation import judges

    raw = {
        **dataclasses.asdict(args.judge),
        "url": args.judge.url or args.judge_url,
        "model": args.judge.model or args.judge_model,
        "rubric": args.judge.rubric or args.rubric,
    }
    try:
        return judges.judge_config(raw)
    except judges.JudgeError as exc:
        raise InputError(
            str(exc).replace("judge.model=None: judge.url is set", "judge_model=None: judge_url is set")
        ) from None


def _generate_and_judge(model, tokenizer, rows, pol, args: CheckpointEvalConfig, scores, result) -> str | None:
    from refusal_lab.evaluation import agreement, judges
    from refusal_lab.evaluation.checkpoint_eval import judge_texts
    from refusal_lab.steering import first_position

    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in pol.tokens}
    ids = [first_position.chat_ids(tokenizer, [{"role": "user", "content": r.prompt}]) for r in rows]
    steered = first_position.decide_and_generate(
        model, tokenizer, ids, pol, token_ids, args.max_new_tokens, args.batch_size
    )
    scores["response"] = steered.texts
    scores["text_label"], judge_error = judge_texts(rows, steered.texts, _judge(args))
    result.update({f"judge/{k}": v for k, v in judges.label_counts(list(scores["text_label"])).items()})
    result.update(
        {
            f"agreement/{k}": v
            for k, v in agreement.token_text_agreement(scores["refused_policy"], scores["text_label"]).items()
        }
    )
    return judge_error


def _write(out: Path, scores, sweep, result) -> None:
    import json

    from refusal_lab.io import write_csv, write_text

    write_csv(out / "scores.csv", scores)
    write_csv(out / "rules.csv", sweep)
    write_text(out / "metrics.json", json.dumps(result, indent=2, default=float) + "\n")  # numpy numbers as numbers


RAW_KEYS = (
    "suite",
    "sets",
    "judges",
    "logger",
)  # comma lists, and names that are also conf/ groups: read as plain text


def _set_overrides(argv: list[str]) -> tuple[list[str], dict]:
    """`<set>.<field>=value` arguments (per eval set of a suite) apart from the command's own keys."""
    import dataclasses

    import yaml

    own = {f.name for f in dataclasses.fields(CheckpointEvalConfig)}
    rest, overrides = [], {}
    for arg in argv:
        key, sep, raw = arg.partition("=")
        name, dot, field = key.partition(".")
        if sep and key in RAW_KEYS:  # Hydra would read suite= as its conf/suite group and a,b as a sweep
            overrides.setdefault("__raw__", {})[key] = raw or None
        elif sep and dot and name not in own and not name.startswith(("+", "~", "hydra")):
            overrides.setdefault(name, {})[field] = yaml.safe_load(raw) if raw else None
        else:
            rest.append(arg)
    return rest, overrides


def main(argv: list[str]) -> int:
    from refusal_lab.steering.policy import PolicyError

    argv, set_overrides = _set_overrides(argv)
    args = parse(argv, CheckpointEvalConfig, "eval")
    if isinstance(args, int):
        return args
    import dataclasses

    raw = set_overrides.pop("__raw__", {})
    if raw or set_overrides:
        from refusal_lab.evaluation import suite_cli

        values = dataclasses.asdict(args) | raw
        return suite_cli.main(values, set_overrides)
    try:
        checkpoint, pol, rows = _inputs(args)
    except (InputError, PolicyError, ValueError) as exc:
        return fail("eval", exc)
    import torch

    from refusal_lab.evaluation.checkpoint_eval import evaluate, format_report
    from refusal_lab.evaluation.report import eval_subset
    from refusal_lab.model.loading import load_pretrained

    torch.set_num_threads(args.threads)
    rows = eval_subset(rows, args.max_prompts, 0)
    model, tokenizer = load_pretrained(str(checkpoint))
    try:
        scores, result, sweep, _ = evaluate(model, tokenizer, rows, pol, args.batch_size)
        judge_error = (
            _generate_and_judge(model, tokenizer, rows, pol, args, scores, result) if args.max_new_tokens > 0 else None
        )
    except (InputError, ValueError) as exc:
        return fail("eval", exc)
    out = Path(args.out or checkpoint.parent / f"eval_{args.data.name}")
    _write(out, scores, sweep, result)
    print(format_report(result, sweep))
    if "agreement/agreement" in result:
        print(
            f"\ntoken/text agreement {result['agreement/agreement']:.3f}; [respond] then refused in words: "
            f"{result['agreement/respond_then_refused']}/{result['agreement/n_respond_token']}; refusal token then answered: "
            f"{result['agreement/refuse_then_answered']}/{result['agreement/n_refuse_token']}; unclear {result['agreement/unclear']}, judge failed {result['agreement/failed']}"
        )
    print(f"\nwritten to {out}: scores.csv, rules.csv ({len(sweep)} rule settings), metrics.json")
    if judge_error:  # the results are written; the exit status says they are not to be trusted
        print(f"refusal-lab eval: {judge_error}", file=sys.stderr)
        return 1
    return 0
