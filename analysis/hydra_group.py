"""A Hydra callback that puts every job of a multirun into one W&B group: the sweep id.

The analysis reads a sweep back by group (`refusal-lab analyze entity/project --group ID`),
so every job of one `refusal-lab -m ...` must share it. The sweep id is
$REFUSAL_LAB_SWEEP_ID when set (Slurm dispatch sets its own), else the name of the
multirun's sweep directory (outputs/multirun/<date_time> -> "<date_time>").

It sets WANDB_RUN_GROUP at the start of the multirun, in the launching process: jobs
of the basic launcher run in that process, and Slurm jobs inherit the environment of
the process that submits them. An explicit `logger.group=...` still wins (tracking
uses the config's group first). Enable it with, in conf/config.yaml:

    hydra:
      callbacks:
        sweep_group:
          _target_: refusal_lab.analysis.hydra_group.SweepGroupCallback

or per command: `+hydra.callbacks.sweep_group._target_=refusal_lab.analysis.hydra_group.SweepGroupCallback`.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.experimental.callback import Callback

SWEEP_ID_ENV = "REFUSAL_LAB_SWEEP_ID"
GROUP_ENV = "WANDB_RUN_GROUP"


def sweep_id_for(sweep_dir: str) -> str:
    return os.environ.get(SWEEP_ID_ENV) or Path(sweep_dir).name


class SweepGroupCallback(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        os.environ.setdefault(GROUP_ENV, sweep_id_for(str(config.hydra.sweep.dir)))
