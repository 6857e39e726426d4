"""`refusal-lab sweep status|resubmit|run|dry-run ...`: follow and rerun Hydra multiruns.

    refusal-lab sweep status   SWEEP_DIR [--watch]
    refusal-lab sweep resubmit SWEEP_DIR [OVERRIDES]   (e.g. hydra.launcher.timeout_min=480)
    refusal-lab sweep run|dry-run OVERRIDES            (= refusal-lab -m OVERRIDES [--dry-run])

The sweep itself is `refusal-lab -m ...` (Hydra's multirun with this project's launcher and
pre-flight); the logic lives in experiments/sweeps.py.
"""

from __future__ import annotations

from refusal_lab.experiments import sweeps


def main(argv: list[str]) -> int:
    return sweeps.main(argv)
