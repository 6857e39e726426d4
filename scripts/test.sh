#!/usr/bin/env bash
# Set up (once) and run the default test suite (CPU, offline). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m slow` for the slow tier.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [ $# -eq 0 ]; then set -- -m "not slow and not gpu"; fi
exec "${REFUSAL_LAB_VENV:-$root/.venv}/bin/python" -m pytest "$@"
