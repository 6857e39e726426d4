"""Hydra launcher plugin: `hydra/launcher=refusal_lab` (conf/hydra/launcher/refusal_lab.yaml), whose
flavour the profiles in conf/launcher/ pick: local (one job after another in this process),
submitit_local (parallel local processes) or slurm (one job array).

Hydra finds the class in the `hydra_plugins` namespace of an installed package; an editable
install hides it from that scan, so SweepCallback also calls `register()` before any launcher is
made. Kept tiny on purpose: Hydra imports plugin modules at start-up, so the work (and every heavy
import) lives in refusal_lab.experiments.sweeps, imported when a sweep launches.
"""

from __future__ import annotations

from typing import Any, Sequence

from hydra.plugins.launcher import Launcher


class RefusalLabLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.config = hydra_context, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
        from refusal_lab.experiments import sweeps

        return sweeps.launch(
            self.params,
            self.hydra_context.config_loader,
            self.config,
            [list(o) for o in job_overrides],
            initial_job_idx,
        )


def register() -> None:
    from hydra.core.plugins import Plugins

    Plugins.instance().register(RefusalLabLauncher)
