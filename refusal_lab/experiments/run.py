"""The whole loop for one run: data -> mix -> model + control tokens -> SFT ->
first-token scoring -> threshold curve -> metrics, logged to W&B and to files.

`run(cfg, run_dir) -> summary` has no Hydra in it: the CLI, tests and Slurm jobs
all call it the same way.

Distributed: every process of a job (torchrun, srun/submitit tasks, or the local
launcher started by train.processes > 1) calls run() with the same config. All
ranks build the same mix and model and train together; only rank 0 writes files,
logs to W&B, evaluates and returns the full summary (other ranks return their
training figures).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from refusal_lab.steering import decisions

from refusal_lab.training import distributed

from refusal_lab.data import loaders

from refusal_lab.evaluation import metrics

from refusal_lab.data import mixing
from refusal_lab.model.chat import encode_example
from refusal_lab.config import RunConfig, to_dict
from refusal_lab.definitions import CATEGORY_SLUGS, control_tokens, refusal_rate_key
from refusal_lab.evaluation.pattern_judge import pattern_refused
from refusal_lab.model.loading import load_model, resolve_device
from refusal_lab.data.records import Example
from refusal_lab.evaluation.scoring import first_position_probs, generate_forced
from refusal_lab.model.tokens import add_control_tokens, resize_and_init
from refusal_lab.experiments.tracking import make_logger
from refusal_lab.training.loop import train

log = logging.getLogger("refusal_lab")


def run_name(cfg: RunConfig) -> str:
    return f"{cfg.model.name}-{cfg.data.name}-{cfg.tokens.scheme}-cr{cfg.mix.contrast_ratio:g}-s{cfg.seed}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def eval_subset(rows: list[Example], max_prompts: int | None, seed: int) -> list[Example]:
    """At most max_prompts rows, sampled per source in proportion (stratified)."""
    if max_prompts is None or len(rows) <= max_prompts:
        return rows
    rng = random.Random(seed)
    by_source: dict[str, list[Example]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    quota = mixing.largest_remainder(max_prompts, {s: float(len(v)) for s, v in by_source.items()})
    return [r for s, v in by_source.items() for r in rng.sample(v, quota[s])]


def evaluate(model, tokenizer, rows: list[Example], cfg: RunConfig, token_ids: dict[str, int]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Scores per prompt, the exact threshold curve and the summary metrics."""
    scheme = cfg.tokens.scheme
    tokens = control_tokens(scheme)
    y = np.array([r.should_refuse for r in rows])
    groups = [refusal_rate_key(r.source, r.category) for r in rows]
    scores = pd.DataFrame({"id": [r.id for r in rows], "source": [r.source for r in rows],
                           "category": [r.category or "" for r in rows], "subcategory": [r.subcategory for r in rows],
                           "should_refuse": y})
    if tokens:
        probs = first_position_probs(model, tokenizer, [r.prompt for r in rows], [token_ids[t] for t in tokens],
                                     cfg.eval.batch_size, cfg.eval.temperature)
        for j, t in enumerate(tokens):
            scores[f"p{t}"] = probs[:, j]
        score = decisions.refusal_score(probs, tokens)
        refused_default = decisions.is_refusal(decisions.model_choice(probs), tokens)
        refused_at_t = decisions.is_refusal(decisions.threshold_rule(probs, tokens, cfg.eval.threshold), tokens)
        score_kind = "p_refuse"
    else:  # baseline without tokens: judge the generated text
        texts = generate_forced(model, tokenizer, [r.prompt for r in rows], [None] * len(rows), cfg.eval.max_new_tokens,
                                cfg.eval.batch_size)
        scores["response"] = texts
        refused_default = refused_at_t = np.array([pattern_refused(t) for t in texts])
        score = refused_default.astype(float)
        score_kind = "pattern_judge"
    scores["p_refuse"] = score
    scores["refused_default"] = refused_default
    curve = metrics.threshold_curve(score, y)
    best_f1, best_t = metrics.best_threshold(curve)
    at_default = metrics.binary_metrics(refused_default, y)
    at_t = metrics.binary_metrics(refused_at_t, y)
    summary = {f"eval/{k}": at_default[k] for k in ("f1", "precision", "recall", "false_refusal_rate", "missed_refusal_rate", "refusal_rate")}
    summary.update({"eval/auroc": metrics.auroc(score, y), "eval/best_f1": best_f1, "eval/best_threshold": best_t,
                    "eval/threshold": cfg.eval.threshold, "eval/f1_at_threshold": at_t["f1"],
                    "eval/false_refusal_rate_at_threshold": at_t["false_refusal_rate"],
                    "eval/missed_refusal_rate_at_threshold": at_t["missed_refusal_rate"],
                    "eval/n_prompts": len(rows), "eval/n_should_refuse": int(y.sum()), "eval/score_kind": score_kind})
    for g, rate in metrics.refusal_rates_by_group(refused_default, groups).items():
        summary[f"eval/refusal_rate/{g}"] = rate
    return summary, scores, curve


def show_samples(model, tokenizer, rows: list[Example], scores: pd.DataFrame, cfg: RunConfig, token_ids: dict[str, int]) -> pd.DataFrame:
    """A few prompts of each kind, generated after the token the default rule chose."""
    tokens = control_tokens(cfg.tokens.scheme)
    picked: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        kind = refusal_rate_key(r.source, r.category)
        if len(picked.setdefault(kind, [])) < cfg.eval.samples_per_kind:
            picked[kind].append(i)
    idx = [i for v in picked.values() for i in v]
    if not idx:
        return pd.DataFrame()
    if tokens:
        probs = scores[[f"p{t}" for t in tokens]].to_numpy()[idx]
        chosen = [tokens[c] for c in decisions.model_choice(probs)]
        forced = [token_ids[t] for t in chosen]
    else:
        chosen, forced = [""] * len(idx), [None] * len(idx)
    texts = generate_forced(model, tokenizer, [rows[i].prompt for i in idx], forced, cfg.eval.max_new_tokens)
    return pd.DataFrame({"kind": [refusal_rate_key(rows[i].source, rows[i].category) for i in idx],
                         "should_refuse": [rows[i].should_refuse for i in idx], "prompt": [rows[i].prompt for i in idx],
                         "token": chosen, "response": texts})


def write_inputs(run_dir: Path, cfg: RunConfig, data, mix) -> None:
    """What went into the run: config, data report, mix manifest and the sample itself."""
    _write_json(run_dir / "config.json", to_dict(cfg))
    _write_json(run_dir / "data_report.json", data.report)
    _write_json(run_dir / "mix_manifest.json", mix.manifest)
    with open(run_dir / "mix.jsonl", "w", encoding="utf-8") as fh:
        for e in mix.examples:
            fh.write(json.dumps(e.as_dict(), ensure_ascii=False) + "\n")
    log.info("mix: %s rows (%s), hash %s", len(mix.examples), mix.manifest["realised"], mix.manifest["content_hash"][:12])


def evaluate_and_report(model, tokenizer, eval_rows: list[Example], cfg: RunConfig, token_ids: dict[str, int],
                        run_dir: Path, logger) -> dict:
    """Score the eval prompts, write scores / curve / every steering rule / samples, log the
    tables; returns the eval summary."""
    rows = eval_subset(eval_rows, cfg.eval.max_prompts, cfg.seed)
    summary, scores, curve = evaluate(model, tokenizer, rows, cfg, token_ids)
    scores.to_csv(run_dir / "scores.csv", index=False)
    curve.to_csv(run_dir / "threshold_curve.csv", index=False)
    if tokens := control_tokens(cfg.tokens.scheme):  # every steering rule over its grid, from the cached scores
        decisions.sweep(scores[[f"p{t}" for t in tokens]].to_numpy(), tokens, scores["should_refuse"].to_numpy(),
                        [refusal_rate_key(r.source, r.category) for r in rows]).to_csv(run_dir / "sweep.csv", index=False)
    samples = show_samples(model, tokenizer, rows, scores, cfg, token_ids)
    samples.to_json(run_dir / "samples.jsonl", orient="records", lines=True, force_ascii=False)
    for s in samples.itertuples():
        log.info("sample [%s] %s\n    prompt:   %s\n    response: %s%s", s.kind, "should refuse" if s.should_refuse else "should answer",
                 s.prompt[:200], s.token, s.response[:300])
    logger.log_table("eval/threshold_curve", curve)
    if not samples.empty:
        logger.log_table("eval/samples", samples)
    return summary


def run(cfg: RunConfig, run_dir: Path, should_stop=lambda: False) -> dict:
    """One run. `should_stop` is polled at every step boundary (a preempted Slurm job
    sets it): the training state is saved and StopRequested raised; calling run()
    again with the same run_dir resumes from that state and the same W&B run."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    dist_env = distributed.detect()
    if dist_env.world_size == 1 and cfg.train.processes > 1:
        return distributed.launch_local(cfg, run_dir, cfg.train.processes)
    use_ds = cfg.train.backend == "deepspeed"
    if dist_env.world_size > 1 and not use_ds:
        raise ValueError(f"train.backend='torch' with {dist_env.world_size} processes ({dist_env.source}): the torch loop "
                         "runs in one process; use train=deepspeed_zero2 / deepspeed_zero3 for several")
    joined = not _dist_initialized()
    distributed.init(dist_env, use_ds)
    main = dist_env.is_main
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.seed)
    data = loaders.load(cfg.data)
    mix = mixing.mix(data.train, cfg.mix)
    if main:
        write_inputs(run_dir, cfg, data, mix)

    run_id_file = run_dir / "wandb_run_id"
    logger_cfg = cfg.logger if main else dataclasses.replace(cfg.logger, mode="disabled")
    logger = make_logger(logger_cfg, run_dir, to_dict(cfg) | {"mix_manifest": mix.manifest, "data_report": data.report}, run_name(cfg),
                         run_id=run_id_file.read_text().strip() if run_id_file.exists() else None)
    if logger.run_id:
        run_id_file.write_text(logger.run_id)
    exit_code = 1
    zero3 = None
    try:
        logger.log({"mix/" + k: v for k, v in mix.manifest["realised"].items()} | {"mix/total": len(mix.examples)}, step=0)
        device = resolve_device(cfg.train.device)
        if device.type == "cuda" and dist_env.world_size > 1:
            device = torch.device("cuda", dist_env.local_rank % torch.cuda.device_count())
        texts = [e.prompt for e in mix.examples] + [e.response for e in mix.examples]
        if use_ds:
            from refusal_lab.training import deepspeed_engine as dsb

            ds_config = dsb.load_config(cfg.train, dist_env.world_size, cfg.model.dtype)
            dsb.check_supported(cfg.train)
            if dsb.zero_stage(ds_config) == 3 and cfg.model.kind != "tiny":
                zero3 = dsb.Zero3Context(ds_config)  # from_pretrained then loads each shard straight into its rank
        model, tokenizer = load_model(cfg.model, texts, cfg.seed)
        token_ids = add_control_tokens(tokenizer, cfg.tokens.scheme)
        if use_ds and dsb.zero_stage(ds_config) == 3:
            zero3 = zero3 or dsb.Zero3Context(ds_config)
            model = dsb.partition(model, ds_config)
            dsb.resize_and_init_partitioned(model, tokenizer, token_ids, cfg.tokens.init, dict(cfg.tokens.descriptions))
        else:
            resize_and_init(model, tokenizer, token_ids, cfg.tokens.init, dict(cfg.tokens.descriptions))
            model.to(device)
        if use_ds:
            model.ds_config = ds_config
        control_only = cfg.train.trainable == "control_tokens"
        encoded = [enc for e in mix.examples
                   if (enc := encode_example(tokenizer, e, cfg.tokens.scheme, cfg.train.loss_on, cfg.train.max_length, control_only))]
        skipped = len(mix.examples) - len(encoded)
        if skipped:
            log.warning("skipped %d examples whose prompt alone exceeds train.max_length=%d", skipped, cfg.train.max_length)
        from refusal_lab.training.loop import prepare_trainable
        trained = prepare_trainable(model, cfg.train, list(token_ids.values()))
        result = train(trained, encoded, tokenizer.pad_token_id, cfg.train, list(token_ids.values()), logger.log, device,
                       state_dir=run_dir / "train_state", checkpoint_every=cfg.train.checkpoint_every, should_stop=should_stop)
        if cfg.train.trainable == "lora":
            model = trained.merge_and_unload()
        log.info("rank %d/%d trained %d steps in %.1f s (%.0f tokens/s, %.0f with padding), loss %.3f -> %.3f", dist_env.rank,
                 dist_env.world_size, result.steps, result.seconds, result.tokens_per_s,
                 result.padded_tokens / result.seconds if result.seconds else 0.0, result.losses[0], result.losses[-1])
        rank_figures = {"rank": dist_env.rank, "world_size": dist_env.world_size, "losses": result.losses,
                        "real_tokens": result.real_tokens, "padded_tokens": result.padded_tokens, "seconds": result.seconds,
                        "tokens_per_s": result.tokens_per_s}
        if dist_env.world_size > 1:
            (run_dir / "ranks").mkdir(exist_ok=True)
            _write_json(run_dir / "ranks" / f"rank{dist_env.rank}.json", rank_figures)
        if use_ds:  # one ordinary HF checkpoint, loaded back like any other (ZeRO-3: gathered from every rank)
            dsb.save_consolidated(model.ds_engine, tokenizer, run_dir / "checkpoint")
            if zero3 is not None:
                zero3.close()
                zero3 = None
            model.__dict__.pop("ds_engine")
            if not main:
                exit_code = 0
                return rank_figures
            from refusal_lab.model.loading import load_pretrained

            model, tokenizer = load_pretrained(str(run_dir / "checkpoint"), cfg.model)
            model.to(device)
        elif cfg.train.save_checkpoint:
            model.save_pretrained(run_dir / "checkpoint")
            tokenizer.save_pretrained(run_dir / "checkpoint")

        summary = evaluate_and_report(model, tokenizer, data.eval, cfg, token_ids, run_dir, logger)
        summary.update({"train/first_loss": result.losses[0], "train/final_loss": result.losses[-1], "train/steps": result.steps,
                        "train/seconds": result.seconds, "train/tokens_per_s": result.tokens_per_s,
                        "train/tokens_per_s_with_padding": result.padded_tokens / result.seconds if result.seconds else 0.0,
                        "train/processes": dist_env.world_size, "train/backend": cfg.train.backend,
                        "mix/total": len(mix.examples), "mix/content_hash": mix.manifest["content_hash"],
                        "mix/contrast_ratio": mix.manifest["realised_contrast_ratio"],
                        "timing/total_seconds": time.perf_counter() - t0, "run_dir": str(run_dir)})
        logger.set_summary({k: v for k, v in summary.items() if k != "run_dir"})
        _write_json(run_dir / "train_losses.json", result.losses)
        if use_ds and not cfg.train.save_checkpoint:
            import shutil

            shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # consolidated only to evaluate it
        _write_json(run_dir / "summary.json", summary)
        exit_code = 0
        return summary
    finally:
        if zero3 is not None:
            zero3.close()
        logger.finish(exit_code)
        if joined and dist_env.world_size > 1:
            distributed.shutdown()


def _dist_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def format_table(summary: dict) -> str:
    """The short table the main job prints."""
    def pct(k):
        v = summary.get(k)
        return "n/a" if v is None or v != v else f"{100 * v:5.1f}%"
    lines = [
        f"refusal F1 (default rule)        {summary['eval/f1']:.3f}",
        f"best F1 over thresholds          {summary['eval/best_f1']:.3f}  at p(refuse) >= {summary['eval/best_threshold']:.3g}",
        f"AUROC of p(refuse)               {summary['eval/auroc']:.3f}",
        f"false-refusal rate (Type II)     {pct('eval/false_refusal_rate')}",
        f"missed-refusal rate (Type I)     {pct('eval/missed_refusal_rate')}",
        "refusal rate per kind:",
    ]
    kinds = list(CATEGORY_SLUGS.values()) + ["contrast", "general"]
    for k in kinds:
        if f"eval/refusal_rate/{k}" in summary:
            target = "should refuse" if k in CATEGORY_SLUGS.values() else "should answer"
            lines.append(f"  {k:<14} {pct('eval/refusal_rate/' + k)}   ({target})")
    return "\n".join(lines)
