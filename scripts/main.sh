#!/usr/bin/env bash
# Set up (once) and run the main job; any Hydra overrides pass through, e.g.
#   bash scripts/main.sh tokens=category mix.contrast_ratio=0.5
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
exec "${REFUSAL_LAB_VENV:-$root/.venv}/bin/refusal-lab" "$@"
