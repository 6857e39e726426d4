"""Distributed training: job-environment detection, the DeepSpeed config checks, and
(slow) real multi-process DeepSpeed runs on the tiny model compared with a
single-process run, resume, ZeRO-3 token resizing and the consolidated checkpoint.

Multi-process tests start real processes (gloo, DS_ACCELERATOR=cpu); each worker is
this file run as a script (`python tests/test_distributed.py MODE JSON`). A worker
exit code alone is never trusted (a crash at interpreter exit was seen after ZeRO-3
runs): every check reads what the workers wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from refusal_lab.training import distributed  # noqa: E402
from refusal_lab.config import TrainConfig, validate  # noqa: E402
from refusal_lab.training.distributed import DistEnv, detect  # noqa: E402

SMALL = [
    "debug=fast",
    "train.log_every=1",
    "train.save_checkpoint=true",
]  # conf/debug/fast.yaml: 8 steps of 4, 120 rows


# ---------------------------------------------------------------- default tier: pure logic


def test_detect_reads_torchrun_and_slurm_environments():
    assert detect({}) == DistEnv()
    env = detect({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "MASTER_ADDR": "n1", "MASTER_PORT": "1234"})
    assert (env.rank, env.local_rank, env.world_size, env.master_addr, env.master_port, env.source) == (
        3,
        1,
        4,
        "n1",
        1234,
        "env",
    )
    slurm = {
        "SLURM_NTASKS": "4",
        "SLURM_PROCID": "2",
        "SLURM_LOCALID": "0",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu[07-08],cpu1",
    }
    env = detect(slurm)
    assert (env.rank, env.local_rank, env.world_size, env.master_addr, env.source) == (2, 0, 4, "gpu07", "slurm")
    assert env.master_port == detect({**slurm, "SLURM_PROCID": "0"}).master_port  # every task agrees on the port
    assert detect({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}).world_size == 1  # a one-task job is one process
    assert distributed._first_host("node3") == "node3" and distributed._first_host("a[1,4-5]") == "a1"


def test_every_task_of_a_slurm_array_gets_its_own_port():
    array = {"SLURM_NTASKS": "2", "SLURM_PROCID": "0", "SLURM_ARRAY_JOB_ID": "4242", "SLURM_JOB_ID": "4243"}
    ports = {detect({**array, "SLURM_ARRAY_TASK_ID": str(t)}).master_port for t in range(8)}
    assert len(ports) == 8  # the same job id for the whole array, a port per task
    task = {**array, "SLURM_ARRAY_TASK_ID": "3"}
    assert detect(task).master_port == detect({**task, "SLURM_PROCID": "1"}).master_port  # the tasks of one job agree
    # submitit names array tasks JOB_TASK: the same rule
    assert distributed.slurm_port("4242_3") == detect(task).master_port != distributed.slurm_port("4242_4")
    assert len({distributed.slurm_port(f"777_{t}") for t in range(100)}) == 100


def test_a_run_asked_for_several_processes_but_alone_says_who_starts_them(compose):
    from refusal_lab.config import ConfigError
    from refusal_lab.training import backends

    with pytest.raises(ConfigError, match="the train command starts the processes"):
        backends.for_config(validate(compose(["train=deepspeed_zero2", "train.processes=2"])))


def test_the_local_processes_are_started_by_torchrun_standalone():
    cmd = distributed.torchrun_command(2, ["train=deepspeed_zero2"])
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:] == ["-m", "refusal_lab.cli", "train=deepspeed_zero2"]


def test_misspelled_top_level_key_is_rejected_with_the_allowed_keys():
    from refusal_lab.training.deepspeed_engine import DeepSpeedConfigError, check_keys

    with pytest.raises(DeepSpeedConfigError) as err:
        check_keys({"train_batch_size": 8, "zero_optimisation": {"stage": 3}})
    msg = str(err.value)
    assert (
        "'zero_optimisation'" in msg and "did you mean 'zero_optimization'" in msg and "Allowed top-level keys" in msg
    )
    check_keys({"zero_optimization": {"stage": 3}, "bf16": {"enabled": True}})  # known keys pass


def test_auto_values_come_from_the_train_section_and_conflicts_are_errors():
    from refusal_lab.training.deepspeed_engine import DeepSpeedConfigError, fill_auto

    cfg = TrainConfig(batch_size=4, grad_accum=3, lr=1e-4, grad_clip=0.5)
    ds = fill_auto(
        {
            "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto",
            "train_batch_size": "auto",
            "gradient_clipping": "auto",
            "bf16": {"enabled": "auto"},
            "optimizer": {"type": "AdamW", "params": {"lr": "auto", "weight_decay": "auto"}},
        },
        cfg,
        2,
        "bfloat16",
    )
    assert ds["train_batch_size"] == 24 and ds["gradient_accumulation_steps"] == 3 and ds["gradient_clipping"] == 0.5
    assert ds["bf16"]["enabled"] is True and ds["fp16"]["enabled"] is False and ds["optimizer"]["params"]["lr"] == 1e-4
    with pytest.raises(DeepSpeedConfigError, match=r"train_micro_batch_size_per_gpu=8 but the train section gives 4"):
        fill_auto({"train_micro_batch_size_per_gpu": 8}, cfg, 1, "float32")
    with pytest.raises(DeepSpeedConfigError, match=r"no value to fill .*zero_optimization.stage"):
        fill_auto({"zero_optimization": {"stage": "auto"}}, cfg, 1, "float32")


@pytest.mark.parametrize("name", ["deepspeed_zero2", "deepspeed_zero3", "deepspeed_zero3_offload"])
def test_bundled_deepspeed_configs_compose_and_fill(compose, name):
    from refusal_lab.training.deepspeed_engine import load_config, zero_stage

    cfg = validate(compose([f"train={name}"]))
    assert cfg.train.backend == "deepspeed"
    ds = load_config(cfg.train, world_size=2, dtype="float32")
    assert zero_stage(ds) == (2 if name.endswith("zero2") else 3)
    assert ds["train_batch_size"] == cfg.train.batch_size * cfg.train.grad_accum * 2


def test_unsupported_deepspeed_settings_are_named():
    from refusal_lab.training.deepspeed_engine import DeepSpeedConfigError, check_supported

    with pytest.raises(DeepSpeedConfigError, match="train.trainable='lora'"):
        check_supported(TrainConfig(backend="deepspeed", trainable="lora"))
    with pytest.raises(DeepSpeedConfigError, match="train.new_rows_lr=0.1"):
        check_supported(TrainConfig(backend="deepspeed", new_rows_lr=0.1))


def test_a_model_outside_a_deepspeed_engine_is_refused():
    pytest.importorskip("deepspeed")
    from refusal_lab.training.deepspeed_engine import assert_engine
    from tests.helpers import tiny

    model, _ = tiny()
    with pytest.raises(RuntimeError, match="not a DeepSpeedEngine"):
        assert_engine(model)


# ---------------------------------------------------------------- multi-process helpers


def _spawn(n: int, mode: str, payload: dict, log_dir: Path, timeout: int = 480) -> list[int]:
    """n worker processes of this file with torchrun-style rank variables; returns exit codes."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = distributed.free_port()
    procs = []
    for rank in range(n):
        env = {
            **os.environ,
            **DistEnv(rank, rank, n, "127.0.0.1", port).as_env(),
            "OMP_NUM_THREADS": "1",
            "DS_ACCELERATOR": "cpu",
            "PYTHONPATH": str(REPO),
            "WANDB_MODE": "disabled",
        }
        out = open(log_dir / f"{mode}-rank{rank}.log", "w")
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, __file__, mode, json.dumps(payload)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                ),
                out,
            )
        )
    codes = []
    deadline = time.time() + timeout
    for p, out in procs:
        try:
            codes.append(p.wait(timeout=max(1, deadline - time.time())))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(-9)
        out.close()
    return codes


def _logs(log_dir: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(log_dir.glob("*.log")))


def _losses(run_dir: Path) -> list[float]:
    return json.loads((run_dir / "train_losses.json").read_text())


# ---------------------------------------------------------------- slow tier: real DeepSpeed, 2 processes


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, plain torch loop, grad_accum=2: the same 8 examples per step as 2 processes x 1."""
    from refusal_lab.composing import compose
    from refusal_lab.experiments.run import run

    raw = compose("config", SMALL + ["train=tiny", "train.grad_accum=2"])
    run_dir = tmp_path_factory.mktemp("reference")
    summary = run(validate(raw), run_dir)
    return {"dir": run_dir, "summary": summary, "losses": _losses(run_dir)}


@pytest.fixture(scope="module")
def zero3_run(tmp_path_factory):
    pytest.importorskip("deepspeed")
    run_dir = tmp_path_factory.mktemp("zero3")
    t0 = time.perf_counter()
    codes = _spawn(
        2, "run", {"overrides": SMALL + ["train=deepspeed_zero3"], "run_dir": str(run_dir)}, run_dir / "logs"
    )
    return {"dir": run_dir, "codes": codes, "seconds": time.perf_counter() - t0}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["deepspeed_zero2", "deepspeed_zero3_offload"])
def test_two_process_run_matches_single_process_losses(reference, tmp_path, recipe):
    pytest.importorskip("deepspeed")
    t0 = time.perf_counter()
    # the train command starts the 2 processes (torchrun --standalone) and prints rank 0's table
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "refusal_lab.cli",
            *SMALL,
            f"train={recipe}",
            "train.processes=2",
            f"run_dir={tmp_path}",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
        timeout=600,
    )
    print(f"2-process {recipe} run: {time.perf_counter() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "refusal F1 (default rule)" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    losses = _losses(tmp_path)
    assert len(losses) == 8
    np.testing.assert_allclose(losses, reference["losses"], rtol=1e-4)
    assert summary["train/processes"] == 2 and summary["train/backend"] == "deepspeed"
    ranks = [json.loads((tmp_path / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["losses"] == ranks[1]["losses"] == losses  # every rank reports the global loss
    # each rank trained on its own half: real tokens per rank add up to the reference's
    ref_tokens = (
        json.loads((reference["dir"] / "summary.json").read_text())["train/tokens_per_s"]
        * reference["summary"]["train/seconds"]
    )
    assert abs(sum(r["real_tokens"] for r in ranks) - ref_tokens) < 1
    assert abs(summary["eval/auroc"] - reference["summary"]["eval/auroc"]) < 0.05


@pytest.mark.slow
def test_two_process_zero3_matches_and_its_consolidated_model_evaluates(reference, zero3_run):
    import pandas as pd
    import torch

    from refusal_lab.data import loaders
    from refusal_lab.definitions import control_tokens
    from refusal_lab.model.loading import load_pretrained
    from refusal_lab.evaluation.report import eval_subset
    from refusal_lab.evaluation.scoring import first_position_probs

    run_dir = zero3_run["dir"]
    print(f"2-process ZeRO-3 run: {zero3_run['seconds']:.1f} s, exit codes {zero3_run['codes']}")
    assert (run_dir / "summary.json").exists(), _logs(run_dir / "logs")
    for r in (0, 1):
        assert (run_dir / f"rank{r}.finished").exists(), _logs(run_dir / "logs")
    np.testing.assert_allclose(_losses(run_dir), reference["losses"], rtol=1e-4)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert abs(summary["eval/auroc"] - reference["summary"]["eval/auroc"]) < 0.05
    # the consolidated checkpoint is an ordinary HF model: reloaded, it gives the run's scores
    cfg = validate(json.loads((run_dir / "config.json").read_text()))
    model, tok = load_pretrained(str(run_dir / "checkpoint"), cfg.model)
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == model.get_output_embeddings().weight.shape[0]
    rows = eval_subset(loaders.load(cfg.data).eval, cfg.eval.max_prompts, cfg.seed)
    tokens = control_tokens(cfg.tokens.scheme)
    probs = first_position_probs(
        model,
        tok,
        [r.prompt for r in rows],
        [tok.convert_tokens_to_ids(t) for t in tokens],
        cfg.eval.batch_size,
        cfg.eval.temperature,
    )
    scores = pd.read_csv(run_dir / "scores.csv")
    assert list(scores["id"]) == [r.id for r in rows]
    np.testing.assert_allclose(probs, scores[[f"p{t}" for t in tokens]].to_numpy(), rtol=1e-4, atol=1e-7)
    ref_scores = pd.read_csv(reference["dir"] / "scores.csv")
    np.testing.assert_allclose(scores["p_refuse"], ref_scores["p_refuse"], atol=2e-2)
    assert torch.isfinite(torch.tensor(probs)).all()


@pytest.mark.slow
def test_zero2_resume_reproduces_the_uninterrupted_losses(reference, tmp_path):
    pytest.importorskip("deepspeed")
    payload = {
        "overrides": SMALL + ["train=deepspeed_zero2", "train.checkpoint_every=2"],
        "run_dir": str(tmp_path / "run"),
        "stop_after": 5,
    }
    _spawn(2, "run", payload, tmp_path / "logs1")
    assert (tmp_path / "run" / "rank0.stopped").exists() and (tmp_path / "run" / "rank1.stopped").exists(), _logs(
        tmp_path / "logs1"
    )
    assert (tmp_path / "run" / "train_state" / "latest").read_text().strip() == "step5"
    assert not (tmp_path / "run" / "summary.json").exists()
    _spawn(2, "run", {**payload, "stop_after": None}, tmp_path / "logs2")
    assert (tmp_path / "run" / "summary.json").exists(), _logs(tmp_path / "logs2")
    np.testing.assert_allclose(_losses(tmp_path / "run"), reference["losses"], rtol=1e-4)
    assert not (tmp_path / "run" / "train_state").exists()  # finished: the state is gone, the model stays


@pytest.mark.slow
@pytest.mark.parametrize("tied", [False, True])
def test_zero3_adds_control_tokens_inside_a_gather(tmp_path, tied):
    pytest.importorskip("deepspeed")
    codes = _spawn(2, "zero3_resize", {"tied": tied, "out": str(tmp_path)}, tmp_path / "logs")
    for r in (0, 1):
        path = tmp_path / f"rank{r}.json"
        assert path.exists(), f"exit codes {codes}\n{_logs(tmp_path / 'logs')}"
        got = json.loads(path.read_text())
        assert got["partitioned"] and got["rows"] == got["tokenizer_len"] == got["head_rows"]
        assert got["tied_same_param"] is tied
        assert got["max_diff_vs_unpartitioned"] < 1e-6


@pytest.mark.slow
@pytest.mark.cluster
def test_two_task_deepspeed_job_through_submitit(reference, tmp_path):
    """One Slurm job with 2 tasks on the local cluster; each task runs experiments.run.run, rank and
    rendezvous taken from submitit's job environment."""
    pytest.importorskip("deepspeed")
    if shutil.which("sbatch") is None:
        pytest.skip("no Slurm client on PATH (launchers/local_slurm.sh start)")
    script = str(REPO / "launchers" / "local_slurm.sh")
    for line in subprocess.run(["bash", script, "env"], capture_output=True, text=True, timeout=30).stdout.splitlines():
        if (
            line.startswith("export ") and "=" in line
        ):  # SLURM_CONF of the local cluster, as tests/cluster/conftest.py does
            key, value = line[len("export ") :].split("=", 1)
            os.environ[key] = value.strip("'\"")
    status = subprocess.run(["bash", script, "status"], capture_output=True, text=True, timeout=60)
    if status.returncode != 0:
        if os.environ.get("REFUSAL_LAB_REQUIRE_CLUSTER") == "1":
            pytest.fail(
                f"REFUSAL_LAB_REQUIRE_CLUSTER=1 but the local cluster is not healthy:\n{status.stdout}{status.stderr}"
            )
        pytest.skip(f"local Slurm cluster not healthy:\n{status.stdout}{status.stderr}")
    import cloudpickle
    import submitit

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job need not import this test module

    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(
        slurm_partition="debug",
        timeout_min=15,
        nodes=1,
        tasks_per_node=2,
        cpus_per_task=1,
        slurm_setup=["export OMP_NUM_THREADS=1 DS_ACCELERATOR=cpu WANDB_MODE=disabled"],
    )
    job = executor.submit(_submitit_task, SMALL + ["train=deepspeed_zero2"], str(tmp_path / "run"))
    try:
        results = job.results()
    finally:
        print(f"submitit job {job.job_id}: state {job.state}")
    assert sorted(r["rank"] for r in results) == [0, 1]
    np.testing.assert_allclose(_losses(tmp_path / "run"), reference["losses"], rtol=1e-4)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["train/processes"] == 2


def _submitit_task(overrides, run_dir):
    from refusal_lab.experiments.run import run

    summary = run(validate(_compose(overrides)), Path(run_dir))
    return {"rank": detect().rank, "keys": len(summary)}


# ---------------------------------------------------------------- worker side


def _compose(overrides):
    from refusal_lab.composing import compose

    return compose("config", list(overrides))


def _worker_run(payload):
    from refusal_lab.experiments.run import run
    from refusal_lab.training.steps import StopRequested

    rank = detect().rank
    run_dir = Path(payload["run_dir"])
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return payload.get("stop_after") is not None and calls["n"] >= payload["stop_after"]

    try:
        run(validate(_compose(payload["overrides"])), run_dir, should_stop=should_stop)
        (run_dir / f"rank{rank}.finished").write_text("ok\n")
    except StopRequested:
        (run_dir / f"rank{rank}.stopped").write_text("ok\n")


def _worker_zero3_resize(payload):
    """Partition a tiny model with ZeRO-3, add the control tokens through the gathered path,
    and compare every embedding/head row with the same steps done without partitioning."""
    import copy

    import deepspeed

    from refusal_lab.training import deepspeed_engine as dsb
    from refusal_lab.model.tokens import add_control_tokens, resize_and_init
    from tests.helpers import tiny

    env = detect()
    distributed.init(env, use_deepspeed=True)
    model, tok = tiny(tied=payload["tied"])
    reference = copy.deepcopy(model)
    ids = add_control_tokens(tok, "single")
    resize_and_init(reference, tok, ids, "description")
    ds = dsb.load_config(
        TrainConfig(backend="deepspeed", deepspeed_config="conf/deepspeed/zero3.json", batch_size=2),
        env.world_size,
        "float32",
    )
    ctx = dsb.Zero3Context(ds)
    dsb.partition(model, ds)
    emb = model.get_input_embeddings().weight
    partitioned = emb.numel() == 0 and getattr(emb, "ds_id", None) is not None
    dsb.resize_and_init_partitioned(model, tok, ids, "description", {})
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
        diff = max(
            (a - b).abs().max().item() for a, b in zip(model.state_dict().values(), reference.state_dict().values())
        )
        names_match = list(model.state_dict()) == list(reference.state_dict())
    ctx.close()
    out = {
        "partitioned": partitioned,
        "rows": dsb.full_shape(emb)[0],
        "head_rows": dsb.full_shape(head)[0],
        "tokenizer_len": len(tok),
        "tied_same_param": head is emb,
        "max_diff_vs_unpartitioned": diff if names_match else float("inf"),
    }
    (Path(payload["out"]) / f"rank{env.rank}.json").write_text(json.dumps(out))
    distributed.shutdown()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    {"run": _worker_run, "zero3_resize": _worker_zero3_resize}[sys.argv[1]](json.loads(sys.argv[2]))
