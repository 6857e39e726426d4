"""Fixtures for tests that need the local Slurm cluster (launchers/local_slurm.sh).

Every test here is skipped, with the reason, when `sinfo` is missing or the cluster is not
healthy; with REFUSAL_LAB_REQUIRE_CLUSTER=1 (CI) it fails instead.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "launchers" / "local_slurm.sh"


def _unavailable(reason: str):
    if os.environ.get("REFUSAL_LAB_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"REFUSAL_LAB_REQUIRE_CLUSTER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster():
    """Checks that the local cluster is healthy and exports what Slurm clients need (SLURM_CONF)."""
    if shutil.which("sinfo") is None:
        _unavailable("`sinfo` not on PATH: run `launchers/local_slurm.sh start` (as root) first")
    try:
        env = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, timeout=30, check=True)
        for line in env.stdout.splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                os.environ[key] = value
        status = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        _unavailable(f"`{SCRIPT} status` did not run: {exc}")
    if status.returncode != 0:
        _unavailable(
            f"local Slurm cluster not healthy (`launchers/local_slurm.sh status` exit {status.returncode}); "
            f"run `launchers/local_slurm.sh start`.\n{status.stdout}{status.stderr}"
        )
    return {"script": SCRIPT, "status": status.stdout}
