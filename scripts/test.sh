#!/usr/bin/env bash
# Set up (once) and run the default test suite (CPU, offline). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m slow` for the slow tier.
# REFUSAL_LAB_REQUIRE_CLUSTER=1 (CI) first starts the local Slurm cluster (launchers/local_slurm.sh,
# as root, ~15-25 s from nothing) and makes the `cluster` tests fail instead of skip without it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
if [ "${REFUSAL_LAB_REQUIRE_CLUSTER:-0}" = 1 ]; then
  bash "$root/launchers/local_slurm.sh" start
  eval "$(bash "$root/launchers/local_slurm.sh" env)"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ $# -eq 0 ]; then set -- -m "not slow and not gpu"; fi
exec "${REFUSAL_LAB_VENV:-$root/.venv}/bin/python" -m pytest "$@"
