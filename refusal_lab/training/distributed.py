"""Which process am I: rank, local rank, world size and the rendezvous address, read
from torchrun / the deepspeed launcher (RANK, WORLD_SIZE, ...) or from a Slurm
allocation (submitit's JobEnvironment inside a submitit job, the SLURM_* variables
under plain srun); plus process-group setup. The one owner of the rank environment:
submitit jobs (experiments/jobs.py) take theirs from `submitit_env`.

Several local processes on a workstation (train.processes > 1) are started by the
entry point with torchrun's standalone mode (`torchrun_command`), not by a run.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    source: str = "single"  # single | env (torchrun & co) | submitit | slurm
    local_world_size: int = 1  # processes on this node
    node_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def as_env(self) -> dict[str, str]:
        """The variables torch.distributed (env://) and DeepSpeed read."""
        return {
            "RANK": str(self.rank),
            "LOCAL_RANK": str(self.local_rank),
            "WORLD_SIZE": str(self.world_size),
            "LOCAL_WORLD_SIZE": str(self.local_world_size),
            "NODE_RANK": str(self.node_rank),
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
        }


def slurm_port(job_id: str, array_task_id: str | int | None = None) -> int:
    """One port per job, the same on every task of it (no communication needed to agree),
    different for every task of an array: from the job id (`123` or submitit's `123_4`)
    and the array task id."""
    base, _, task = str(job_id).partition("_")
    task = str(array_task_id) if array_task_id not in (None, "") else task
    base_digits = "".join(c for c in base if c.isdigit()) or "0"
    task_digits = "".join(c for c in task if c.isdigit()) or "0"
    return 20000 + (int(base_digits) + int(task_digits)) % 20000


def _first_host(nodelist: str) -> str:
    """First host of a Slurm node list (`node[1-3],gpu7` -> node1), without calling scontrol."""
    head = nodelist.split(",")[0] if "[" not in nodelist.split(",")[0] else nodelist[: nodelist.index("]") + 1]
    if "[" not in head:
        return head
    prefix, ranges = head.split("[", 1)
    first = ranges.rstrip("]").split(",")[0].split("-")[0]
    return prefix + first


def detect(environ: dict[str, str] | None = None) -> DistEnv:
    """This process's place in the job; a single process when nothing says otherwise."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(
            int(env["RANK"]),
            int(env.get("LOCAL_RANK", env["RANK"])),
            int(env["WORLD_SIZE"]),
            env.get("MASTER_ADDR", "127.0.0.1"),
            int(env.get("MASTER_PORT", "29500")),
            "env",
        )
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        if env.get("SUBMITIT_EXECUTOR") == "slurm" and environ is None:
            return submitit_env()
        job_id = env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID", "0")
        return DistEnv(
            int(env["SLURM_PROCID"]),
            int(env.get("SLURM_LOCALID", "0")),
            int(env["SLURM_NTASKS"]),
            _first_host(env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", "127.0.0.1"))),
            slurm_port(job_id, env.get("SLURM_ARRAY_TASK_ID")),
            "slurm",
            int(env.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0] or 1),
            int(env.get("SLURM_NODEID", "0")),
        )
    return DistEnv()


def submitit_env() -> DistEnv:
    """This task of a submitit job (Slurm or the local executor, which has no node list)."""
    import submitit

    job = submitit.JobEnvironment()
    try:
        master = job.hostnames[0]
    except Exception:  # the local executor has no node list
        master = "127.0.0.1"
    return DistEnv(
        job.global_rank,
        job.local_rank,
        job.num_tasks,
        master,
        slurm_port(job.job_id),
        "submitit",
        max(1, job.num_tasks // max(1, job.num_nodes)),
        job.node,
    )


def device_for(dist_env: DistEnv, wanted: str):
    """train.device for this process: with several processes on CUDA, the GPU of its local rank."""
    import torch

    from refusal_lab.model.loading import resolve_device

    device = resolve_device(wanted)
    if device.type == "cuda" and dist_env.world_size > 1:
        device = torch.device("cuda", dist_env.local_rank % torch.cuda.device_count())
    return device


def torchrun_command(processes: int, argv: list[str]) -> list[str]:
    """`argv` of `python -m refusal_lab.cli` run in `processes` local processes by torchrun's
    standalone mode (its own rendezvous on a free port, rank variables set before Python
    starts, every process ended if one fails)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "refusal_lab.cli",
        *argv,
    ]


def init(dist_env: DistEnv, use_deepspeed: bool) -> None:
    """Join the process group (gloo on CPU, nccl on GPU); a no-op for one process."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized() or (dist_env.world_size == 1 and not use_deepspeed):
        return
    if dist_env.world_size == 1:  # DeepSpeed wants a process group even for one process
        dist_env = DistEnv(master_port=free_port())
    os.environ.update(dist_env.as_env())
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(dist_env.local_rank % torch.cuda.device_count())
    else:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    backend = "nccl" if cuda else "gloo"
    if use_deepspeed:
        import deepspeed

        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)
    else:
        dist.init_process_group(backend, rank=dist_env.rank, world_size=dist_env.world_size)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (no barrier: rank 0 may still be evaluating)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
