"""Checks of a schema-valid run config against this machine, before any work starts.

config.validate() knows the schema; these checks know the world outside it: files that
must exist, a device this torch build has, a W&B key for online runs, the launch
environment (Slurm tasks), a model that has the LoRA target modules and enough positions,
and (builtin data, cheap) a pool large enough for the mix. Each problem names key, value
and fix, and all come back at once, in the ConfigError of the schema check.
"""

from __future__ import annotations

import json
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from refusal_lab.config import ConfigError, RunConfig
from refusal_lab.paths import project_file

COCONOT_FILES = {
    "refusal_source": ["coconot_eval.jsonl"],
    "contrast_source": ["coconot_pref.jsonl", "coconot_contrast_eval.jsonl"],
}


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def file_problems(cfg: RunConfig) -> list[str]:
    """Every file or folder the config names exists."""
    problems, m, data, tr = [], cfg.model, cfg.data, cfg.train
    if m.kind in ("hf", "gguf") and m.name_or_path and m.name_or_path != "???" and _looks_like_path(m.name_or_path):
        if not Path(m.name_or_path).expanduser().exists():
            problems.append(
                f"model.name_or_path={m.name_or_path!r}: no such {'folder' if m.kind == 'hf' else '.gguf file'}; "
                "give an existing path" + (" or a Hugging Face model name" if m.kind == "hf" else "")
            )
    for key, files in COCONOT_FILES.items():
        if getattr(data, key) == "coconot_local":
            missing = [f for f in files if not (Path(data.coconot_path) / f).is_file()]
            if missing:
                problems.append(
                    f"data.coconot_path={data.coconot_path!r}: {', '.join(missing)} not found (needed by data.{key}=coconot_local); "
                    "point it at the CoCoNot folder (or set REFUSAL_LAB_SHARED_DATA) or use data=coconot_hf"
                )
                break
    if data.general_source == "jsonl" and data.general_path and not Path(data.general_path).exists():
        problems.append(
            f"data.general_path={data.general_path!r}: does not exist; point it at a .jsonl file or a folder of them"
        )
    if tr.backend == "deepspeed" and tr.deepspeed_config:
        given = Path(tr.deepspeed_config)
        if not (given.is_file() or project_file(given).is_file()):
            problems.append(
                f"train.deepspeed_config={tr.deepspeed_config!r}: no such file; use train=deepspeed_zero2 / deepspeed_zero3 "
                "or an existing DeepSpeed JSON"
            )
        elif cfg.tokens.separate_input_rows and _zero_stage(given if given.is_file() else project_file(given)) == 3:
            problems.append(
                "tokens.separate_input_rows=true: ZeRO-3 partitions the model before the control rows are set, "
                "so the head cannot be untied there; use train=deepspeed_zero2 or tokens.separate_input_rows=false"
            )
    return problems


def _zero_stage(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text()).get("zero_optimization", {}).get("stage", 0))
    except (OSError, ValueError, AttributeError):
        return None  # an unreadable JSON is DeepSpeed's own error to report, with its file name


def device_problems(cfg: RunConfig) -> list[str]:
    """A cuda device is asked for only where this torch build sees one."""
    device = cfg.train.device
    if not device.startswith("cuda"):
        return []
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= count:
        seen = f"{count} CUDA device(s)" if torch.version.cuda else "a CPU-only torch build"
        return [f"train.device={device!r}: this machine has {seen}; use train.device=auto or cpu"]
    return []


def wandb_key_problems(cfg: RunConfig, environ=os.environ) -> list[str]:
    """logger=wandb_online needs WANDB_API_KEY or a netrc entry for the W&B host."""
    if cfg.logger.mode != "online" or environ.get("WANDB_API_KEY"):
        return []
    host = urlparse(environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        path = environ.get("NETRC") or str(Path(environ.get("HOME", str(Path.home()))) / ".netrc")
        if Path(path).exists() and netrc.netrc(path).authenticators(host):
            return []
    except (netrc.NetrcParseError, OSError):
        pass
    return [
        f"logger.mode='online': no W&B key (WANDB_API_KEY unset, no {host} entry in ~/.netrc); "
        "run `wandb login`, export WANDB_API_KEY, or use logger=wandb_offline (sync later) or logger=disabled"
    ]


def launch_problems(cfg: RunConfig, environ=None) -> list[str]:
    """Several tasks (torchrun, srun) need a backend that runs in several processes."""
    from refusal_lab.training import distributed

    dist_env = distributed.detect(dict(os.environ) if environ is None else environ)
    if dist_env.world_size > 1 and cfg.train.backend != "deepspeed":
        return [
            f"train.backend={cfg.train.backend!r}: started as {dist_env.world_size} tasks ({dist_env.source}), but the torch loop "
            "runs in one process; use train=deepspeed_zero2 / deepspeed_zero3, or start one task (e.g. --ntasks-per-node=1)"
        ]
    return []


def _model_config(cfg: RunConfig):
    """The transformers config of the model without loading weights (None when only the hub has it)."""
    m = cfg.model
    if m.kind == "tiny":
        from refusal_lab.model.loading import tiny_config

        return tiny_config(m)
    if m.kind == "hf" and m.name_or_path and Path(m.name_or_path).expanduser().is_dir():
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(
                str(Path(m.name_or_path).expanduser()), trust_remote_code=m.trust_remote_code
            )
        except (OSError, ValueError):
            return None
    return None


def model_problems(cfg: RunConfig) -> list[str]:
    """Enough positions for train.max_length; LoRA targets that name modules of this model
    (module names from an empty model on the meta device: no weights are read)."""
    tr = cfg.train
    # the tiny model's positions are a config value: no transformers import (3-4 s of every sweep's planning)
    config = _model_config(cfg) if cfg.model.kind != "tiny" or tr.trainable == "lora" else None
    positions = (
        cfg.model.max_position_embeddings
        if cfg.model.kind == "tiny"
        else getattr(config, "max_position_embeddings", None)
    )
    problems = []
    if positions is not None and positions < tr.max_length:
        problems.append(
            f"train.max_length={tr.max_length}: the model has only {positions} positions "
            f"(model.max_position_embeddings); lower train.max_length to <= {positions}"
        )
    if tr.trainable == "lora" and config is not None:
        problems += _lora_problems(config, list(tr.lora_targets))
    return problems


def _lora_problems(config, targets: list[str]) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    names = [name for name, _ in model.named_modules() if name]
    leaves = {name.rsplit(".", 1)[-1] for name in names}
    unmatched = [t for t in targets if t not in leaves and not any(n.endswith(t) for n in names)]
    if not unmatched:
        return []
    linear = sorted({n.rsplit(".", 1)[-1] for n, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)})
    return [f"train.lora_targets={targets}: {unmatched} match no module of this model; its linear layers are {linear}"]


_BUILTIN_POOLS: dict[str, dict] = {}  # data section -> training pools, so a sweep splits the builtin data once


def mix_problems(cfg: RunConfig) -> list[str]:
    """Builtin data only (made in memory in under a second): the pools hold what the mix asks for."""
    if {cfg.data.refusal_source, cfg.data.contrast_source, cfg.data.general_source} - {"builtin", "none"}:
        return []
    from refusal_lab.data import loaders, mixing

    key = repr(cfg.data)
    if key not in _BUILTIN_POOLS:
        _BUILTIN_POOLS[key] = loaders.load(cfg.data).train
    try:
        mixing.mix(_BUILTIN_POOLS[key], cfg.mix)
    except mixing.MixError as exc:
        return [str(exc)]
    return []


def problems(cfg: RunConfig, runs_here: bool = True) -> list[str]:
    """Every machine-level problem of a schema-valid config. runs_here=False where the job runs
    elsewhere (a Slurm sweep submitted from a login node): no device or task checks."""
    found = file_problems(cfg) + wandb_key_problems(cfg)
    if runs_here:
        found += launch_problems(cfg) + device_problems(cfg)
    if not found:  # the slower checks only for a config that can otherwise start
        found += model_problems(cfg) + mix_problems(cfg)
    return found


def check(cfg: RunConfig, runs_here: bool = True) -> None:
    found = problems(cfg, runs_here)
    if found:
        raise ConfigError(found)
