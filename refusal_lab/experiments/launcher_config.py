"""Schema of the project's Hydra launcher (`hydra/launcher=refusal_lab`; profiles in conf/launcher/).

Field names follow hydra-submitit-launcher's where they mean the same (partition, account,
qos, constraint, nodes, tasks_per_node, gpus_per_node, cpus_per_task, mem_gb, timeout_min,
signal_delay_s, setup, additional_parameters, array_parallelism), so one conf/local/ file
serves both launchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from refusal_lab.config import documented_field as _f


@dataclass
class LauncherConfig:
    kind: Literal["local", "submitit_local", "slurm"] = _f(
        "local",
        "local: one job after another in this process; submitit_local: parallel local processes (submitit); slurm: sbatch job array",
    )
    partition: str | None = _f(None, "slurm: partition (null = the cluster's default)")
    account: str | None = _f(None, "slurm: account to charge")
    qos: str | None = _f(None, "slurm: quality of service")
    constraint: str | None = _f(None, "slurm: node features, e.g. a100|h100")
    nodes: int = _f(1, "slurm: nodes per job", min=1)
    tasks_per_node: int = _f(
        1, "tasks per node (one per GPU for DeepSpeed); each task reads its rank from the Slurm env", min=1
    )
    gpus_per_node: int = _f(0, "GPUs per node (0 = CPU job)", min=0)
    cpus_per_task: int = _f(1, "CPU cores per task", min=1)
    mem_gb: float | None = _f(None, "memory per node in GB (null = the cluster's default)", min=0.1)
    timeout_min: int = _f(
        60, "time limit per job in minutes; the job checkpoints signal_delay_s before it and is requeued", min=1
    )
    signal_delay_s: int = _f(
        90, "seconds before the time limit at which Slurm sends the checkpoint signal (USR2)", min=1
    )
    additional_parameters: dict = _f(
        {},
        "extra `#SBATCH --KEY=VALUE` lines, e.g. {reservation: x, exclude: node3}; true = a bare flag ({hold: true})",
    )
    setup: list[str] = _f([], "shell lines run before the job starts (module load ..., source venv)")
    max_requeues: int = _f(3, "a job preempted or timed out more often than this ends as failed (state kept)", min=0)
    stop_wait_s: float = _f(
        120.0,
        "seconds the checkpoint signal waits for the current optimizer step to end and the state to be saved",
        min=0.0,
    )
    checkpoint_every: int | None = _f(
        None,
        "train.checkpoint_every for jobs that leave it null (fallback state if a step outlasts stop_wait_s)",
        min=1,
    )
    array_parallelism: int = _f(64, "at most this many jobs of the array run at once", min=1)
    jobs_per_task: int = _f(
        1,
        "sweep jobs run one after another in one Slurm task (process start and imports paid once: short jobs); "
        "the task's time limit is timeout_min x this",
        min=1,
    )
    wait: bool = _f(
        True,
        "wait for the training jobs and print the results (sweepers such as Optuna need it); false = submit and return",
    )
    eval_after: bool = _f(
        False, "per training job, submit a dependent evaluation job (`refusal-lab eval`, Slurm afterok; never requeued)"
    )
    eval_args: list[str] = _f([], "arguments of that evaluation job, e.g. [data=coconot, max_prompts=500]")
    eval_timeout_min: int = _f(60, "time limit of an evaluation job in minutes", min=1)
    analyze_after: bool = _f(
        False, "after every job of the sweep, one analysis job (`refusal-lab analyze SWEEP_DIR`, Slurm afterany)"
    )
