"""The refusal trade-off experiment (run by `refusal-lab tradeoff`, refusal_lab/commands/tradeoff.py).

The paper's thesis as one figure: one model with refusal tokens steered by a
threshold, against the "default approach" (models without tokens retrained at
several refusal fractions), training-free steering of the no-token model with the
refusal direction (directional ablation; activation addition with a swept strength)
and system-prompt variants, all on the same evaluation set (the runs' own eval split).

Steps: compose and validate every run first (nothing starts on a bad config); train
each run that has no summary.json yet (a rerun reuses finished runs and only redraws);
evaluate the steering and system prompts on the no-token model at `steer_value`;
measure the capability tax; write points.csv, table.csv, capability.json,
tradeoff.png, report.md under --out and print the table.

The refusal decision of a no-token model comes from its generated text (pattern
judge); the first-position score of a no-token model is p(first token of a refusal
opening) at the first response position, itself a threshold curve.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from refusal_lab.evaluation import tradeoff

log = logging.getLogger("refusal_lab")
DEFAULT_EXPERIMENT = "tradeoff.yaml"
PLANS_DIR = Path(__file__).parent / "tradeoff_plans"  # the plans shipped with the code (own format)


@dataclasses.dataclass
class Spec:
    """An experiment file (tradeoff_plans/tradeoff.yaml documents every key)."""

    overrides: list[str]  # Hydra overrides of every run
    token_models: list[list[str]]  # one token model per entry (its extra overrides)
    retrained_key: str  # config key varied for the no-token models
    retrained_values: list[float]  # one no-token model per value
    steer_value: float  # which no-token model is steered and prompted
    layer: int | None  # refusal-direction layer (None = middle)
    alphas: list[float]  # activation-addition strengths, in units of |r|
    ablation: bool  # also evaluate directional ablation
    direction_prompts: int  # prompts per class from the training mix for r
    system_prompts: dict[str, str | None]  # name -> system message (None = no system turn)
    max_new_tokens: int  # generated tokens judged per prompt
    targets: list[float]  # matched refusal rates of the table
    bootstrap: int  # bootstrap replicates of the intervals
    seed: int = 0  # bootstrap seed


def experiment_path(name: str) -> Path:
    """A path, or a plan name in refusal_lab/evaluation/tradeoff_plans/."""
    p = Path(name)
    if p.exists():
        return p
    q = PLANS_DIR / (name if name.endswith(".yaml") else name + ".yaml")
    if q.exists():
        return q
    raise FileNotFoundError(f"experiment file {name!r}: no such file (nor {q}); pass a path or a name in {PLANS_DIR}")


def load_spec(path: Path) -> Spec:
    """The experiment file as a Spec; every problem at once as a ValueError naming file and key."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    fields = {f.name: f for f in dataclasses.fields(Spec)}
    problems = [f"{path}: {k}: unknown key; expected one of {', '.join(fields)}" for k in raw if k not in fields]
    missing = [k for k, f in fields.items() if f.default is dataclasses.MISSING and k not in raw]
    problems += [f"{path}: {k}: missing" for k in missing]
    if problems:
        raise ValueError("\n".join(problems))
    spec = Spec(**raw)
    spec.token_models = [m.split() if isinstance(m, str) else list(m) for m in spec.token_models]
    checks = [
        (
            spec.steer_value in spec.retrained_values,
            "steer_value",
            f"{spec.steer_value} is not one of retrained_values {spec.retrained_values}",
        ),
        (len(spec.retrained_values) >= 1, "retrained_values", "needs at least one value"),
        (all(0 < t < 1 for t in spec.targets), "targets", "matched refusal rates must lie in (0, 1)"),
        (spec.max_new_tokens > 0, "max_new_tokens", "must be > 0"),
    ]
    problems = [f"{path}: {key}: {msg}" for ok, key, msg in checks if not ok]
    if problems:
        raise ValueError("\n".join(problems))
    return spec


# ----------------------------------------------------------------------------- runs


@dataclasses.dataclass
class PlannedRun:
    name: str
    role: str  # token | retrained
    value: float | None  # the retrained key's value
    cfg: object  # RunConfig
    run_dir: Path


def plan_runs(spec: Spec, extra: list[str], out: Path) -> list[PlannedRun]:
    """Compose and validate every run's config; one ConfigError lists every problem."""
    from refusal_lab.composing import compose
    from refusal_lab.config import ConfigError, InputError, validate

    wanted = [(f"tokens-{_scheme(m)}", "token", None, m) for m in spec.token_models]
    wanted += [
        (
            f"none-{spec.retrained_key.rsplit('.', 1)[-1]}{v:g}",
            "retrained",
            v,
            ["tokens=none", f"{spec.retrained_key}={v}"],
        )
        for v in spec.retrained_values
    ]
    planned, problems = [], []
    for name, role, value, own in wanted:
        run_dir = out / "runs" / name
        try:
            raw = compose("config", [*spec.overrides, *extra, *own])  # Hydra's errors come back as ConfigError
            raw["run_dir"] = str(run_dir)
            cfg = validate(raw)
            check_mix(cfg)
            planned.append(PlannedRun(name, role, value, cfg, run_dir))
        except ConfigError as e:
            problems += [f"run {name}: {p}" for p in e.problems]
        except InputError as e:  # data files the run's mix would read
            problems.append(f"run {name}: {e}")
    if problems:
        raise ConfigError(problems)
    return planned


def check_mix(cfg) -> None:
    """Draw the run's training mix now (pure, seconds), so a pool too small for one refusal
    fraction is reported before any run trains."""
    from refusal_lab.config import ConfigError
    from refusal_lab.data import loaders, mixing

    try:
        mixing.mix(loaders.load(cfg.data).train, cfg.mix)
    except mixing.MixError as e:
        raise ConfigError([str(e)]) from None


def _scheme(overrides: list[str]) -> str:
    return next((o.split("=", 1)[1] for o in overrides if o.startswith("tokens=")), "single")


def ensure_run(p: PlannedRun) -> dict:
    """The run's summary; trains it first unless a finished summary.json is there."""
    from refusal_lab.experiments.run import run

    summary = p.run_dir / "summary.json"
    if summary.exists():
        log.info("tradeoff: reusing %s", p.run_dir)
        return json.loads(summary.read_text())
    log.info("tradeoff: training %s", p.name)
    return run(p.cfg, p.run_dir)


def eval_rows(cfg):
    """The prompts the run scored, in scores.csv's order (same loader, split and subset)."""
    from refusal_lab.data import loaders
    from refusal_lab.evaluation.report import eval_subset

    return eval_subset(loaders.load(cfg.data).eval, cfg.eval.max_prompts, cfg.seed)


def aligned_scores(run_dir: Path, ids: list[str]) -> pd.DataFrame:
    s = pd.read_csv(run_dir / "scores.csv", dtype={"id": str, "category": str}, keep_default_na=False).set_index("id")
    if set(s.index) != set(ids):
        raise ValueError(
            f"{run_dir}/scores.csv scored a different evaluation set than the other runs; "
            "every run of a trade-off must share data and eval settings"
        )
    return s.loc[ids]


# ----------------------------------------------------------------------------- the steered no-token model


def judged(model, tokenizer, id_lists: list[list[int]], max_new_tokens: int, batch_size: int) -> np.ndarray:
    from refusal_lab.evaluation.pattern_judge import pattern_refused
    from refusal_lab.evaluation.scoring import generate_after

    rows = generate_after(model, tokenizer, id_lists, max_new_tokens, batch_size)
    return np.array([pattern_refused(t) for t in tokenizer.batch_decode(rows, skip_special_tokens=True)])


def system_prompt_ids(tokenizer, prompt: str, system: str | None) -> list[int]:
    from refusal_lab.model.chat import prompt_ids

    if system is None:
        return prompt_ids(tokenizer, prompt)
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        add_generation_prompt=True,
        tokenize=False,
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def refusal_opening_ids(tokenizer) -> list[int]:
    """First token ids of the refusal openings the pattern judge looks for."""
    from refusal_lab.data.refusal_responses import REFUSAL_OPENINGS

    return sorted({tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in REFUSAL_OPENINGS})


def steering_methods(spec: Spec, p: PlannedRun, rows, own_refused: np.ndarray) -> tuple[list, dict]:
    """Refusal-opening score, ablation, activation addition and system prompts on one no-token model."""
    from refusal_lab.evaluation.scoring import first_position_probs
    from refusal_lab.model.chat import prompt_ids
    from refusal_lab.model.loading import load_pretrained
    from refusal_lab.steering import refusal_direction as rd

    model, tok = load_pretrained(str(p.run_dir / "checkpoint"), p.cfg.model)
    bs = p.cfg.eval.batch_size
    prompts = [r.prompt for r in rows]
    name = f"no-token model ({spec.retrained_key.rsplit('.', 1)[-1]}={p.value:g})"
    opening = first_position_probs(model, tok, prompts, refusal_opening_ids(tok), bs).sum(axis=1)
    methods = [tradeoff.threshold_method(f"{name}: p(refusal opening) threshold", opening, "first_position")]
    mix = [json.loads(line) for line in (p.run_dir / "mix.jsonl").read_text().splitlines() if line.strip()]
    refuse = [m["prompt"] for m in mix if m["should_refuse"]][: spec.direction_prompts]
    answer = [m["prompt"] for m in mix if not m["should_refuse"]][: spec.direction_prompts]
    separation = None
    if spec.layer is None:  # chosen on held-out halves of the direction prompts
        layer, separation = rd.choose_layer(model, tok, refuse, answer, bs)
    else:
        layer = spec.layer
    r = rd.refusal_direction(model, tok, refuse, answer, layer, bs)
    r_hat, norm = rd.unit(r), float(r.norm())
    ids = [prompt_ids(tok, q) for q in prompts]
    if spec.ablation:
        with rd.directional_ablation(model, r_hat):
            methods.append(
                tradeoff.Method(
                    f"{name}: directional ablation",
                    "steering",
                    ["ablation"],
                    judged(model, tok, ids, spec.max_new_tokens, bs)[None],
                )
            )
    added = {0.0: own_refused}
    for a in spec.alphas:
        with rd.activation_addition(model, r_hat, a * norm, layer):
            added[float(a)] = judged(model, tok, ids, spec.max_new_tokens, bs)
    alphas = sorted(added)
    methods.append(
        tradeoff.Method(
            f"{name}: activation addition α·r (layer {layer})", "steering", alphas, np.stack([added[a] for a in alphas])
        )
    )
    sys_refused = [
        own_refused
        if text is None
        else judged(model, tok, [system_prompt_ids(tok, q, text) for q in prompts], spec.max_new_tokens, bs)
        for text in spec.system_prompts.values()
    ]
    methods.append(
        tradeoff.Method(f"{name}: system prompt", "system_prompt", list(spec.system_prompts), np.stack(sys_refused))
    )
    details = {"layer": layer, "direction_norm": norm, "direction_prompts": [len(refuse), len(answer)]}
    return methods, details | ({"layer_separation": [round(x, 4) for x in separation]} if separation else {})


# ----------------------------------------------------------------------------- capability tax


def capability_tax(token_run: PlannedRun, base_run: PlannedRun, rows, max_new_tokens: int) -> dict:
    """First-position KL (no-token model || token model) on should-answer prompts, at the first
    response position (control tokens excluded, renormalised) and after a forced `[respond]`; and
    answer quality (ROUGE-L, token F1 against the references) on the general eval instructions."""
    from refusal_lab.definitions import RESPOND_TOKEN, control_tokens
    from refusal_lab.evaluation import capability
    from refusal_lab.evaluation.scoring import first_position_logprobs, generate_forced
    from refusal_lab.model.chat import prompt_ids
    from refusal_lab.model.loading import load_pretrained

    tm, tt = load_pretrained(str(token_run.run_dir / "checkpoint"), token_run.cfg.model)
    bm, bt = load_pretrained(str(base_run.run_dir / "checkpoint"), base_run.cfg.model)
    answer = [r for r in rows if not r.should_refuse]
    respond = tt.convert_tokens_to_ids(RESPOND_TOKEN)
    controls = set(control_tokens("single") + control_tokens("category"))
    bs = token_run.cfg.eval.batch_size

    def full(model, tok, id_lists):
        return first_position_logprobs(model, id_lists, list(range(len(tok))), tok.pad_token_id, 1.0, bs)

    base_lp = full(bm, bt, [prompt_ids(bt, r.prompt) for r in answer])
    token_ids = [prompt_ids(tt, r.prompt) for r in answer]
    kl_first = capability.shared_vocab_kl(base_lp, bt.get_vocab(), full(tm, tt, token_ids), tt.get_vocab(), controls)
    kl_after = capability.shared_vocab_kl(
        base_lp, bt.get_vocab(), full(tm, tt, [i + [respond] for i in token_ids]), tt.get_vocab(), controls
    )
    general = [r for r in rows if r.source == "general" and r.response]
    prompts, refs = [r.prompt for r in general], [r.response for r in general]
    token_answers = generate_forced(tm, tt, prompts, [respond] * len(prompts), max_new_tokens, bs)
    base_answers = generate_forced(bm, bt, prompts, [None] * len(prompts), max_new_tokens, bs)
    mean = lambda f, xs: float(np.mean([f(a, b) for a, b in zip(xs, refs)])) if refs else float("nan")  # noqa: E731
    return {
        "token_model": token_run.name,
        "no_token_model": base_run.name,
        "n_should_answer": len(answer),
        "kl_first_position_mean": float(kl_first.mean()),
        "kl_first_position_median": float(np.median(kl_first)),
        "kl_after_respond_mean": float(kl_after.mean()),
        "kl_after_respond_median": float(np.median(kl_after)),
        "n_general": len(general),
        "max_new_tokens": max_new_tokens,
        "rouge_l_token_model_after_respond": mean(capability.rouge_l, token_answers),
        "rouge_l_no_token_model": mean(capability.rouge_l, base_answers),
        "token_f1_token_model_after_respond": mean(capability.token_f1, token_answers),
        "token_f1_no_token_model": mean(capability.token_f1, base_answers),
    }


# ----------------------------------------------------------------------------- the whole comparison


def token_methods(p: PlannedRun, scores: pd.DataFrame) -> list:
    """The threshold sweep of a token model. (The controlled-set rule with S = every category is
    the same rule, tested in tests/baselines; single-category sets are the independence figure.)"""
    return [
        tradeoff.threshold_method(f"token model ({p.cfg.tokens.scheme}): threshold", scores["p_refuse"].to_numpy(float))
    ]


def category_independence(p: PlannedRun, scores: pd.DataFrame, out: Path) -> Path | None:
    """Each category token suppressed (controlled set of one) against every kind's refusal rate."""
    from refusal_lab.analysis import plots, tables

    runs = pd.DataFrame(
        {
            "run_id": [p.name],
            "scheme": ["category"],
            "contrast_ratio": [p.cfg.mix.contrast_ratio],
            "config.tokens.scheme": ["category"],
            "config.mix.contrast_ratio": [p.cfg.mix.contrast_ratio],
        }
    )
    control = tables.category_control_matrix(scores.reset_index().assign(run_id=p.name), runs)
    table = tables.category_independence(control, runs)
    from refusal_lab.io import write_csv

    write_csv(out / "category_independence.csv", table)
    return plots.category_independence(table, out / "category_independence.png")


def run_tradeoff(spec: Spec, out: Path, extra: list[str] = ()) -> dict:
    """Train what is missing, evaluate every method on the shared eval set, write and draw."""
    extra = [*extra, f"eval.max_new_tokens={spec.max_new_tokens}"]
    planned = plan_runs(spec, list(extra), out)
    for p in planned:
        ensure_run(p)
    rows = eval_rows(planned[0].cfg)
    ids = [r.id for r in rows]
    y = np.array([r.should_refuse for r in rows])
    methods = []
    for p in (p for p in planned if p.role == "token"):
        scores = aligned_scores(p.run_dir, ids)
        methods += token_methods(p, scores)
        if p.cfg.tokens.scheme == "category":
            category_independence(p, scores, out)
    retrained = [p for p in planned if p.role == "retrained"]
    own = {
        p.value: aligned_scores(p.run_dir, ids)["refused_default"].astype(str).str.lower().eq("true").to_numpy()
        for p in retrained
    }
    methods.append(
        tradeoff.Method(
            f"no-token models retrained at {spec.retrained_key}",
            "retrained",
            [p.value for p in retrained],
            np.stack([own[p.value] for p in retrained]),
        )
    )
    steer = next(p for p in retrained if p.value == spec.steer_value)
    steer_methods, direction = steering_methods(spec, steer, rows, own[steer.value])
    methods += steer_methods
    token_runs = [p for p in planned if p.role == "token"]
    cap = (
        capability_tax(
            next((p for p in token_runs if p.cfg.tokens.scheme == "single"), token_runs[0]),
            steer,
            rows,
            spec.max_new_tokens,
        )
        if token_runs
        else {}
    )
    return write_outputs(spec, out, methods, y, cap | {"refusal_direction": direction}, planned)


def write_outputs(spec: Spec, out: Path, methods: list, y: np.ndarray, capability: dict, planned: list) -> dict:
    from refusal_lab.analysis import tradeoff_plots
    from refusal_lab.io import write_csv, write_json, write_text

    pts = tradeoff.points(methods, y)
    tab = tradeoff.table(methods, y, spec.targets, spec.bootstrap, spec.seed)
    write_csv(out / "points.csv", pts)
    write_csv(out / "table.csv", tab)
    write_json(out / "capability.json", capability)
    figure = tradeoff_plots.tradeoff(pts, out / "tradeoff.png")
    text = tradeoff.format_table(tab, spec.targets)
    runs = "\n".join(f"- `{p.name}`: {p.run_dir}" for p in planned)
    write_text(
        out / "report.md",
        "\n".join(
            [
                "# Refusal trade-off",
                "",
                f"Evaluation set: {int(y.sum())} should-refuse and {int((~y).sum())} should-answer prompts "
                "(the runs' own eval split). AUC = area under the Pareto curve of refusal rate (should-refuse) against "
                "false-refusal rate (should-answer), corners (0,0) and (1,1) included; FRR at r% = false-refusal rate where the "
                f"curve reaches r% refusal (linear between settings); [95% bootstrap over prompts, {spec.bootstrap} replicates].",
                "",
                "```",
                text,
                "```",
                "",
                "![trade-off](tradeoff.png)",
                "",
            ]
            + (
                [
                    "## Category independence (category token model)",
                    "",
                    "![independence](category_independence.png)",
                    "",
                ]
                if (out / "category_independence.png").exists()
                else []
            )
            + ["## Capability tax", "", "```", json.dumps(capability, indent=2), "```", "", "## Runs", "", runs, ""]
        ),
    )
    return {"points": pts, "table": tab, "text": text, "capability": capability, "figure": figure}
