"""Which process am I: rank, local rank, world size and the rendezvous address, read
from torchrun / the deepspeed launcher / our local launcher (RANK, WORLD_SIZE, ...)
or from a Slurm allocation (submitit's JobEnvironment inside a submitit job, the
SLURM_* variables under plain srun); plus process-group setup and a local
multi-process launcher for workstations.

The local launcher starts one fresh Python process per rank with the rank
variables in its environment (set before torch or deepspeed is imported, so
OMP_NUM_THREADS and DS_ACCELERATOR take effect), each calling pipeline.run on the
same config and run directory; rank 0 writes the outputs.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    source: str = "single"          # single | env (torchrun & co) | submitit | slurm

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def as_env(self) -> dict[str, str]:
        """The variables torch.distributed (env://) and DeepSpeed read."""
        return {"RANK": str(self.rank), "LOCAL_RANK": str(self.local_rank), "WORLD_SIZE": str(self.world_size),
                "MASTER_ADDR": self.master_addr, "MASTER_PORT": str(self.master_port)}


def _slurm_port(job_id: str) -> int:
    """One port per job, the same on every task of it (no communication needed to agree)."""
    digits = "".join(c for c in str(job_id) if c.isdigit()) or "0"
    return 20000 + int(digits) % 20000


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
        return DistEnv(int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"])), int(env["WORLD_SIZE"]),
                       env.get("MASTER_ADDR", "127.0.0.1"), int(env.get("MASTER_PORT", "29500")), "env")
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        if env.get("SUBMITIT_EXECUTOR") == "slurm" and environ is None:
            import submitit

            job = submitit.JobEnvironment()
            return DistEnv(job.global_rank, job.local_rank, job.num_tasks, job.hostnames[0],
                           _slurm_port(job.job_id), "submitit")
        return DistEnv(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", "0")), int(env["SLURM_NTASKS"]),
                       _first_host(env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", "127.0.0.1"))),
                       _slurm_port(env.get("SLURM_JOB_ID", "0")), "slurm")
    return DistEnv()


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


DONE_FILE = "rank{rank}.done"


def launch_local(cfg, run_dir: Path, processes: int) -> dict:
    """Run pipeline.run in `processes` local processes (a workstation); returns rank 0's summary.

    A rank that exits non-zero after writing its done marker (a crash seen at interpreter
    exit after ZeRO-3 runs) only logs a warning: its results are already on disk."""
    import json
    import logging

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ranks_dir = run_dir / "ranks"
    ranks_dir.mkdir(exist_ok=True)
    job = ranks_dir / "job.pkl"
    job.write_bytes(pickle.dumps((cfg, str(run_dir))))
    port = free_port()
    procs = []
    for rank in range(processes):
        (ranks_dir / DONE_FILE.format(rank=rank)).unlink(missing_ok=True)
        env = {**os.environ, **DistEnv(rank, rank, processes, "127.0.0.1", port, "env").as_env(),
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        env.setdefault("DS_ACCELERATOR", "cpu" if not _has_cuda() else "cuda")
        out = open(ranks_dir / f"rank{rank}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", "refusal_lab.training.distributed", str(job)], env=env,
                                       stdout=out, stderr=subprocess.STDOUT), out))
    failed = []
    for rank, (p, out) in enumerate(procs):
        code = p.wait()
        out.close()
        if code != 0:
            if (ranks_dir / DONE_FILE.format(rank=rank)).exists():
                logging.getLogger("refusal_lab").warning("rank %d exited with code %d after finishing its work", rank, code)
            else:
                failed.append((rank, code))
    if failed:
        rank, code = failed[0]
        tail = (ranks_dir / f"rank{rank}.log").read_text()[-4000:]
        raise RuntimeError(f"train.processes={processes}: rank {rank} failed with exit code {code}; "
                           f"log {ranks_dir / f'rank{rank}.log'}:\n{tail}")
    return json.loads((run_dir / "summary.json").read_text())


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _worker(job_file: str) -> None:
    cfg, run_dir = pickle.loads(Path(job_file).read_bytes())
    from refusal_lab.experiments.run import run

    run(cfg, Path(run_dir))
    rank = int(os.environ["RANK"])
    (Path(run_dir) / "ranks" / DONE_FILE.format(rank=rank)).write_text("ok\n")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    _worker(sys.argv[1])
