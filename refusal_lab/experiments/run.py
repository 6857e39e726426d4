"""One run: data -> mix -> model + control tokens -> SFT -> first-token scoring ->
threshold curve -> metrics, logged to W&B and to files.

`run(cfg, run_dir) -> summary` has no Hydra in it: the CLI, tests and Slurm jobs all call
it the same way. Every process of a job (torchrun, srun/submitit tasks) calls run() with
the same config; the training backend (training.backends) knows the processes: all of
them build the same mix and model and train together, the main one writes the inputs,
logs, evaluates and returns the summary (the others return their training figures).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch

from refusal_lab.config import ConfigError, RunConfig, to_dict
from refusal_lab.data import loaders, mixing
from refusal_lab.evaluation.report import evaluate_and_report
from refusal_lab.experiments import run_dirs
from refusal_lab.experiments.tracking import make_logger
from refusal_lab.io import write_json, write_jsonl, write_text
from refusal_lab.model.card import publish_checkpoint
from refusal_lab.model.chat import Encoded, encode_example
from refusal_lab.training import backends, distributed

log = logging.getLogger("refusal_lab")


def run(cfg: RunConfig, run_dir: Path, should_stop=lambda: False) -> dict:
    """One run. `should_stop` is polled at every step boundary (a preempted Slurm job sets
    it; so does Ctrl-C): the training state is saved and StopRequested raised; calling run()
    again with the same config and run_dir resumes from that state and the same W&B run."""
    t0, run_dir = time.perf_counter(), Path(run_dir)
    backend = backends.for_config(cfg)
    try:
        previous = run_dirs.claim(run_dir, cfg, backend.is_main)
        if previous.finished_summary is not None:  # finished before: not rerun (run_dir_policy=restart does)
            return previous.finished_summary
        seed_everything(cfg)
        data = loaders.load(cfg.data)
        mix = mixing.mix(data.train, cfg.mix)
        model, tokenizer, token_ids = backend.build_model(
            [e.prompt for e in mix.examples] + [e.response for e in mix.examples]
        )
        encoded = encode_mix(mix.examples, tokenizer, cfg)
        logger = start_outputs(run_dir, cfg, data, mix, backend.is_main)
        with finishing(logger):
            logger.log(
                {"mix/" + k: v for k, v in mix.manifest["realised"].items()} | {"mix/total": len(mix.examples)}, step=0
            )
            result = backend.train(
                model,
                encoded,
                tokenizer.pad_token_id,
                list(token_ids.values()),
                logger.log,
                run_dir / "train_state",
                should_stop,
            )
            log_training(result, backend)
            final = backend.final_model(model, tokenizer, result, run_dir)
            if final is None:  # another process of this job evaluates and reports
                return {"rank": distributed.detect().rank, "world_size": backend.world_size, "losses": result.losses}
            summary = evaluate_and_report(*final, data.eval, cfg, token_ids, run_dir, logger)
            summary |= run_figures(cfg, result, backend, mix) | {
                "timing/total_seconds": time.perf_counter() - t0,
                "run_dir": str(run_dir),
            }
            logger.set_summary({k: v for k, v in summary.items() if k != "run_dir"})
            if cfg.train.save_checkpoint:  # generation config + model card (+ hub upload when train.push_to_hub)
                publish_checkpoint(run_dir / "checkpoint", cfg, final[1], token_ids, mix.manifest, summary)
            write_json(run_dir / "train_losses.json", result.losses)
            write_json(run_dir / "summary.json", summary)
            return summary
    finally:
        backend.close()


def run_name(cfg: RunConfig) -> str:
    return f"{cfg.model.name}-{cfg.data.name}-{cfg.tokens.scheme}-cr{cfg.mix.contrast_ratio:g}-s{cfg.seed}"


def seed_everything(cfg: RunConfig) -> None:
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)


def encode_mix(examples, tokenizer, cfg: RunConfig) -> list[Encoded]:
    """The mix as token ids and labels; examples whose prompt alone exceeds train.max_length
    are skipped, and a mix with nothing left is an error before training starts."""
    control_only = cfg.train.trainable == "control_tokens"
    encoded = [
        enc
        for e in examples
        if (
            enc := encode_example(
                tokenizer, e, cfg.tokens.scheme, cfg.train.loss_on, cfg.train.max_length, control_only
            )
        )
    ]
    skipped = len(examples) - len(encoded)
    if skipped and not encoded:
        longest = min(len(tokenizer(e.prompt)["input_ids"]) for e in examples) if examples else 0
        raise ConfigError(
            [
                f"train.max_length={cfg.train.max_length}: every one of the {len(examples)} mix examples has a "
                f"prompt longer than that (the shortest encodes to about {longest} tokens); nothing to train on. "
                "Raise train.max_length"
            ]
        )
    if skipped:
        log.warning("skipped %d examples whose prompt alone exceeds train.max_length=%d", skipped, cfg.train.max_length)
    return encoded


def start_outputs(run_dir: Path, cfg: RunConfig, data, mix, is_main: bool):
    """What went into the run (config and its hash, data report, mix manifest, the sample
    itself) and the logger, which continues the run's W&B run on a resume. Only the main
    process writes and logs."""
    logger_cfg = cfg.logger if is_main else dataclasses.replace(cfg.logger, mode="disabled")
    if not is_main:
        return make_logger(logger_cfg, run_dir, {}, run_name(cfg))
    run_dirs.record(run_dir, cfg)
    write_json(run_dir / "config.json", to_dict(cfg))
    write_json(run_dir / "data_report.json", data.report)
    write_json(run_dir / "mix_manifest.json", mix.manifest)
    write_jsonl(run_dir / "mix.jsonl", (e.as_dict() for e in mix.examples))
    log.info(
        "mix: %s rows (%s), hash %s", len(mix.examples), mix.manifest["realised"], mix.manifest["content_hash"][:12]
    )
    run_id_file = run_dir / "wandb_run_id"
    logger = make_logger(
        logger_cfg,
        run_dir,
        to_dict(cfg) | {"mix_manifest": mix.manifest, "data_report": data.report},
        run_name(cfg),
        run_id=run_id_file.read_text().strip() if run_id_file.exists() else None,
    )
    if logger.run_id:
        write_text(run_id_file, logger.run_id)
    return logger


class finishing:
    """Closes the logger with exit code 0 when the block succeeds, 1 otherwise."""

    def __init__(self, logger):
        self.logger = logger

    def __enter__(self):
        return self.logger

    def __exit__(self, exc_type, exc, tb):
        self.logger.finish(0 if exc_type is None else 1)
        return False


def log_training(result, backend) -> None:
    log.info(
        "rank %d/%d trained %d steps in %.1f s (%.0f tokens/s, %.0f with padding), loss %.3f -> %.3f",
        distributed.detect().rank,
        backend.world_size,
        result.steps,
        result.seconds,
        result.tokens_per_s,
        result.padded_tokens / result.seconds if result.seconds else 0.0,
        result.losses[0],
        result.losses[-1],
    )


def run_figures(cfg: RunConfig, result, backend, mix) -> dict:
    """The training and mix part of summary.json."""
    return {
        "train/first_loss": result.losses[0],
        "train/final_loss": result.losses[-1],
        "train/steps": result.steps,
        "train/seconds": result.seconds,
        "train/tokens_per_s": result.tokens_per_s,
        "train/tokens_per_s_with_padding": result.padded_tokens / result.seconds if result.seconds else 0.0,
        "train/processes": backend.world_size,
        "train/backend": cfg.train.backend,
        "mix/total": len(mix.examples),
        "mix/content_hash": mix.manifest["content_hash"],
        "mix/contrast_ratio": mix.manifest["realised_contrast_ratio"],
    }
