"""The training backend of a run, picked by train.backend: `TorchBackend` (loop.py, one
process) or `DeepSpeedBackend` (deepspeed_engine.py, every process of a job). Both offer
build_model(texts), train(...), final_model(...) (None on processes that do not
evaluate) and close(); the run never asks which one it has."""

from __future__ import annotations

from refusal_lab.config import ConfigError, RunConfig
from refusal_lab.training import distributed


def for_config(cfg: RunConfig):
    dist_env = distributed.detect()
    if cfg.train.processes > 1 and dist_env.world_size == 1:
        raise ConfigError(
            [
                f"train.processes={cfg.train.processes} but this process runs alone: the train command starts "
                "the processes (`refusal-lab train train.processes=N`, through torchrun); a library caller "
                "starts them itself (torchrun, srun) or sets train.processes=1"
            ]
        )
    if cfg.train.backend == "deepspeed":
        from refusal_lab.training.deepspeed_engine import DeepSpeedBackend  # deepspeed is an optional extra

        return DeepSpeedBackend(cfg, dist_env)
    from refusal_lab.training.loop import TorchBackend

    return TorchBackend(cfg, dist_env)
