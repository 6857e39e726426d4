"""`refusal-lab eval checkpoint=RUN/checkpoint policy=POLICY.yaml [data=builtin|coconot] ...`

Scores a checkpoint's eval prompts once (first-position probabilities), decides them
under the policy, and writes/prints: refusal rates per kind (CoCoNot category,
contrast, general) and per subcategory at the model's default rule and under the
policy, refusal F1 etc., and the exact grid of every rule (decisions.rule_grid, rules.csv) from
the same probabilities. Optionally generates after the chosen token and judges the
text (pattern judge, or an LLM judge at judge_url) with token/text agreement.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ARGS = {  # key: (type, default, help)
    "checkpoint": (str, None, "folder written by a run (run_dir/checkpoint): model + tokenizer with the control tokens"),
    "policy": (str, None, "policy YAML (refusal-lab calibrate writes one); unset = the model's own choice"),
    "data": (str, "builtin", "builtin (the run's own eval split) or coconot (../shared/data/coconot)"),
    "split": (str, "eval", "eval: held-out split as loaders.load makes it; all (data=coconot): all 1,001 + 379 CoCoNot test prompts"),
    "out": (str, None, "folder for scores.csv, rules.csv, metrics.json (default: <checkpoint>/../eval_<data>)"),
    "max_prompts": (int, None, "score at most this many prompts (stratified by source)"),
    "batch_size": (int, 32, "prompts per forward pass"),
    "max_new_tokens": (int, 0, "generate this many tokens after the chosen control token and judge the text (0 = no generation)"),
    "judge_url": (str, None, "OpenAI-compatible base URL of an LLM judge (e.g. http://127.0.0.1:8000/v1); unset = pattern judge"),
    "judge_model": (str, None, "model name for the LLM judge"),
    "rubric": (str, None, "rubric JSON for the LLM judge (e.g. ../shared/data/coconot/refusal_evaluation_rubric.json)"),
    "threads": (int, 1, "torch CPU threads"),
}


class ArgError(ValueError):
    pass


def parse_args(argv: list[str], spec: dict, command: str) -> dict:
    """key=value arguments against a spec {key: (type, default, help)}; every problem at once."""
    values = {k: d for k, (_, d, _) in spec.items()}
    problems = []
    for arg in argv:
        if arg in ("-h", "--help"):
            raise ArgError(usage(spec, command))
        key, sep, raw = arg.partition("=")
        if not sep:
            problems.append(f"{arg!r}: expected key=value, e.g. {next(iter(spec))}=...")
            continue
        if key not in spec:
            problems.append(f"{key}={raw!r}: unknown key; allowed keys: {', '.join(spec)}")
            continue
        tp = spec[key][0]
        try:
            values[key] = None if raw in ("null", "") else tp(raw)
        except ValueError:
            problems.append(f"{key}={raw!r}: expected {tp.__name__} ({spec[key][2]})")
    if problems:
        raise ArgError(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
                       + f"\n\n{usage(spec, command)}")
    return values


def usage(spec: dict, command: str) -> str:
    return f"usage: refusal-lab {command} key=value ...\n" + "\n".join(f"  {k:<15} {h} (default {d!r})" for k, (_, d, h) in spec.items())


def _data_config(name: str, checkpoint: Path):
    """The data section: the run's own (same split) for builtin, conf/data/coconot.yaml for coconot."""
    from refusal_lab.config import validate

    run_cfg = checkpoint.parent / "config.json"
    if name == "builtin" and run_cfg.exists():
        return validate(json.loads(run_cfg.read_text())).data
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from refusal_lab.paths import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"data={name}"])
    return validate(OmegaConf.to_container(cfg, resolve=True)).data


def eval_rows(data: str, split: str, checkpoint: Path):
    """Rows to score. split=all reads CoCoNot's whole original test + contrast test
    (for checkpoints not trained on CoCoNot); split=eval is the held-out split."""
    from refusal_lab.data import loaders
    from refusal_lab.definitions import SOURCE_CONTRAST, SOURCE_REFUSAL

    if data not in ("builtin", "coconot"):
        raise ArgError(f"data={data!r}: expected builtin or coconot")
    if split not in ("eval", "all"):
        raise ArgError(f"split={split!r}: expected eval or all")
    cfg = _data_config(data, checkpoint)
    if split == "all":
        if data != "coconot":
            raise ArgError("split='all': only with data=coconot (the builtin data has no official test split)")
        folder = Path(cfg.coconot_path)
        rows = []
        for fname, source in (("coconot_eval.jsonl", SOURCE_REFUSAL), ("coconot_contrast_eval.jsonl", SOURCE_CONTRAST)):
            if not (folder / fname).exists():
                raise ArgError(f"data.coconot_path={str(folder)!r}: {fname} not found; set REFUSAL_LAB_SHARED_DATA")
            raw, _ = loaders.read_jsonl(folder / fname)
            rows += loaders.coconot_rows([{**r, "response": r.get("response") or "(eval)"} for r in raw], source, fname)
        return rows
    return loaders.load(cfg).eval


def group_rates(refused: np.ndarray, rows) -> dict[str, float]:
    """Refusal rate per kind and per (category slug / normalised subcategory)."""
    from refusal_lab.definitions import CATEGORY_SLUGS, normalise_subcategory, refusal_rate_key
    from refusal_lab.evaluation.metrics import refusal_rates_by_group

    out = {f"refusal_rate/{k}": v for k, v in refusal_rates_by_group(refused, [refusal_rate_key(r.source, r.category) for r in rows]).items()}
    subs = [f"{r.source}:{CATEGORY_SLUGS.get(r.category or '', 'none')}/{normalise_subcategory(r.subcategory) or '-'}" for r in rows]
    out.update({f"refusal_rate_sub/{k}": v for k, v in refusal_rates_by_group(refused, subs).items()})
    return out


def evaluate(model, tokenizer, rows, pol, batch_size: int = 32) -> tuple[pd.DataFrame, dict, pd.DataFrame, np.ndarray]:
    """(per-prompt scores with the policy's choice, metrics, sweep of every rule, probs)."""
    from refusal_lab.steering import decisions
    from refusal_lab.evaluation import metrics
    from refusal_lab.steering import policy as policy_mod
    from refusal_lab.evaluation import scoring
    from refusal_lab.steering import first_position
    from refusal_lab.definitions import refusal_rate_key

    tokens = pol.tokens
    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    unknown = [t for t, i in token_ids.items() if i is None or i == tokenizer.unk_token_id or tokenizer.convert_ids_to_tokens(i) != t]
    if unknown:
        raise ArgError(f"policy scheme={pol.scheme!r}: the checkpoint's tokenizer lacks {unknown}; set the policy's scheme to the checkpoint's")
    ids = [first_position.chat_ids(tokenizer, [{"role": "user", "content": r.prompt}]) for r in rows]
    probs = np.exp(scoring.first_position_logprobs(model, ids, [token_ids[t] for t in tokens], tokenizer.pad_token_id,
                                                    policy_mod.scoring_temperature(pol), batch_size))
    y = np.array([r.should_refuse for r in rows])
    default = decisions.model_choice(probs)
    chosen = policy_mod.apply(pol, probs, tokens)
    scores = pd.DataFrame({"id": [r.id for r in rows], "source": [r.source for r in rows], "category": [r.category or "" for r in rows],
                           "subcategory": [r.subcategory for r in rows], "should_refuse": y})
    for j, t in enumerate(tokens):
        scores[f"p{t}"] = probs[:, j]
    scores["p_refuse"] = decisions.refusal_score(probs, tokens)
    scores["refused_default"] = decisions.is_refusal(default, tokens)
    scores["token_policy"] = [tokens[c] for c in chosen]
    scores["refused_policy"] = decisions.is_refusal(chosen, tokens)
    result = {"n_prompts": len(rows), "n_should_refuse": int(y.sum()), "policy": pol.as_dict(),
              "auroc": metrics.auroc(scores["p_refuse"], y)}
    for name, refused in (("default", scores["refused_default"].to_numpy()), ("policy", scores["refused_policy"].to_numpy())):
        m = metrics.binary_metrics(refused, y)
        result.update({f"{name}/{k}": v for k, v in m.items()})
        result.update({f"{name}/{k}": v for k, v in group_rates(refused, rows).items()})
    groups = [refusal_rate_key(r.source, r.category) for r in rows]
    # probabilities are at the policy's scoring temperature; the bias sweep uses the policy's temperature
    sweep = decisions.rule_grid(probs, tokens, y, groups, temperature=pol.temperature if pol.rule == "bias" else 1.0)
    return scores, result, sweep, probs


def format_report(result: dict, sweep: pd.DataFrame) -> str:
    def pct(v):
        return "  n/a" if v is None or v != v else f"{100 * v:5.1f}%"
    kinds = sorted({k.split("/", 2)[2] for k in result if k.startswith("default/refusal_rate/")})
    lines = [f"prompts: {result['n_prompts']} ({result['n_should_refuse']} should refuse)   AUROC of p(refuse): {result['auroc']:.3f}",
             f"policy: {json.dumps({k: v for k, v in result['policy'].items() if v not in (None, {}, [])})}",
             "", f"{'':<28}{'default':>9}{'policy':>9}"]
    for k in ("f1", "false_refusal_rate", "missed_refusal_rate", "refusal_rate"):
        lines.append(f"{k:<28}{pct(result['default/' + k]):>9}{pct(result['policy/' + k]):>9}")
    lines.append("refusal rate per kind:")
    for k in kinds:
        lines.append(f"  {k:<26}{pct(result['default/refusal_rate/' + k]):>9}{pct(result['policy/refusal_rate/' + k]):>9}")
    th = sweep[sweep.rule == "threshold"]
    pick = th[np.isclose(th.threshold.to_numpy() * 10, np.round(th.threshold.to_numpy() * 10))]
    cols = [c for c in sweep.columns if c.startswith("refusal_rate/")]
    lines += ["", "threshold rule p(refuse) >= t, refusal rate per kind:",
              f"{'t':>5} {'F1':>6} " + " ".join(f"{c.split('/', 1)[1][:11]:>11}" for c in cols)]
    for _, row in pick.iterrows():
        lines.append(f"{row['threshold']:>5.2f} {row['f1']:>6.3f} " + " ".join(f"{pct(row[c]):>11}" for c in cols))
    return "\n".join(lines)


def judge_texts(rows, texts: list[str], args: dict) -> list[str]:
    from refusal_lab.evaluation import judges, pattern_judge

    if not args["judge_url"]:
        return ["REFUSED" if pattern_judge.pattern_refused(t) else "ANSWERED" for t in texts]
    if not args["judge_model"]:
        raise ArgError("judge_model=None: judge_url is set, so name the judge model (judge_model=...)")
    judge = judges.LLMJudge(args["judge_url"], args["judge_model"],
                            rubric=judges.load_rubric(args["rubric"]) if args["rubric"] else None)
    return [v.label for v in judge.judge([r.prompt for r in rows], texts, [r.subcategory for r in rows])]


def main(argv: list[str]) -> int:
    from refusal_lab.steering import policy as policy_mod

    try:
        args = parse_args(argv, ARGS, "eval")
        if not args["checkpoint"]:
            raise ArgError("checkpoint=None: give the checkpoint folder, e.g. checkpoint=outputs/runs/<date>/<run>/checkpoint")
        checkpoint = Path(args["checkpoint"])
        if not (checkpoint / "config.json").exists():
            raise ArgError(f"checkpoint={str(checkpoint)!r}: no model there (expected config.json and safetensors written by a run)")
        pol = policy_mod.load(args["policy"]) if args["policy"] else _policy_for_checkpoint(checkpoint)
        rows = eval_rows(args["data"], args["split"], checkpoint)
    except (ArgError, policy_mod.PolicyError, ValueError) as exc:
        print(f"refusal-lab eval: {exc}", file=sys.stderr)
        return 2
    import torch

    from refusal_lab.model.loading import load_pretrained
    from refusal_lab.evaluation.report import eval_subset

    torch.set_num_threads(args["threads"])
    rows = eval_subset(rows, args["max_prompts"], 0)
    model, tokenizer = load_pretrained(str(checkpoint))
    try:
        scores, result, sweep, _ = evaluate(model, tokenizer, rows, pol, args["batch_size"])
    except (ArgError, ValueError) as exc:
        print(f"refusal-lab eval: {exc}", file=sys.stderr)
        return 2
    if args["max_new_tokens"] > 0:
        from refusal_lab.evaluation import judges
        from refusal_lab.steering import first_position

        token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in pol.tokens}
        ids = [first_position.chat_ids(tokenizer, [{"role": "user", "content": r.prompt}]) for r in rows]
        steered = first_position.decide_and_generate(model, tokenizer, ids, pol, token_ids, args["max_new_tokens"], args["batch_size"])
        scores["response"] = steered.texts
        scores["text_label"] = judge_texts(rows, steered.texts, args)
        result.update({f"judge/{k}": v for k, v in judges.label_counts(list(scores["text_label"])).items()})
        result.update({f"agreement/{k}": v for k, v in judges.token_text_agreement(scores["refused_policy"], scores["text_label"]).items()})
    out = Path(args["out"] or checkpoint.parent / f"eval_{args['data']}")
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / "scores.csv", index=False)
    sweep.to_csv(out / "rules.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(format_report(result, sweep))
    if "agreement/agreement" in result:
        print(f"\ntoken/text agreement {result['agreement/agreement']:.3f}; [respond] then refused in words: "
              f"{result['agreement/respond_then_refused']}/{result['agreement/n_respond_token']}; refusal token then answered: "
              f"{result['agreement/refuse_then_answered']}/{result['agreement/n_refuse_token']}; unclear {result['agreement/unclear']}")
    print(f"\nwritten to {out}: scores.csv, rules.csv ({len(sweep)} rule settings), metrics.json")
    return 0


def _policy_for_checkpoint(checkpoint: Path):
    """No policy given: the model's own choice under the scheme the run was trained with."""
    from refusal_lab.steering import policy as policy_mod

    run_cfg = checkpoint.parent / "config.json"
    scheme = json.loads(run_cfg.read_text())["tokens"]["scheme"] if run_cfg.exists() else "single"
    if scheme == "none":
        raise ArgError(f"checkpoint={str(checkpoint)!r} was trained without control tokens (tokens.scheme=none): nothing to steer")
    return policy_mod.Policy(scheme=scheme)
