"""Compose a primary config from conf/ with Hydra's compose API and validate it: the one
place where command-line overrides become a checked dataclass.

Hydra's own errors (an unknown group option, a malformed override) come back as a
ConfigError, so every command reports them in the same format and exits 2. Nothing is
written: the compose API makes no output folder.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from refusal_lab.config import ConfigError, RunConfig, validate, validate_section
from refusal_lab.paths import conf_dir, register_resolvers

_PLAIN_KEY = re.compile(r"^([A-Za-z_][\w.\[\]-]*)=")


def _present(tree: dict, dotted: str) -> bool:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _allow_new_keys(overrides: list[str], base: dict, groups: set[str]) -> list[str]:
    """`key=value` for a key the primary YAML lacks becomes `++key=value` (add or override), so
    that the schema check (not Hydra's struct mode) reports an unknown key, with every other
    problem, in one message. Group choices (`data=coconot`) stay as they are."""
    out = []
    for o in overrides:  # flags (-m), +/~ and group/path overrides (hydra/launcher=x) never match _PLAIN_KEY
        m = _PLAIN_KEY.match(o)
        new_key = m and not m.group(1).startswith("hydra.") and not _present(base, m.group(1))
        out.append(f"++{o}" if new_key and m.group(1) not in groups else o)
    return out


@functools.lru_cache(maxsize=16)
def _defaults(conf: str, config_name: str) -> tuple[dict, frozenset[str]]:
    """The config without overrides and the group names (inside an initialize_config_dir
    context): once per process, since every compose compares its overrides against them."""
    from hydra import compose as hydra_compose
    from omegaconf import OmegaConf

    base = OmegaConf.to_container(hydra_compose(config_name=config_name), resolve=False)
    return base, frozenset(p.name for p in Path(conf).iterdir() if p.is_dir())


def compose(config_name: str = "config", overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """The composed config as a plain dict (interpolations resolved); Hydra errors as ConfigError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            base, groups = _defaults(str(conf_dir()), config_name)
            cfg = hydra_compose(config_name=config_name, overrides=_allow_new_keys(list(overrides), base, groups))
        return OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError([f"overrides {' '.join(overrides) or '(none)'}: {' '.join(str(exc).split())}"]) from None


def hydra_arguments(args: list[str], config_name: str = "config") -> list[str]:
    """Command-line arguments for Hydra's own main (the train command, `-m` sweeps) with the same
    rewrite compose() applies: a schema key the primary YAML lacks (`data.general_path` with the
    builtin data) becomes `++key=value`, so Hydra accepts what the schema check accepted. Flags
    and hydra.* overrides pass unchanged."""
    from hydra import initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        base, groups = _defaults(str(conf_dir()), config_name)
    return _allow_new_keys(list(args), base, groups)


def compose_run(overrides: list[str] | tuple[str, ...] = (), check_machine: bool = True) -> RunConfig:
    """A training run's config: composed, validated against the schema and, with
    check_machine, against this machine (files, device, W&B key, model modules)."""
    from refusal_lab import preflight

    cfg = validate(compose("config", overrides))
    if check_machine:
        preflight.check(cfg)
    return cfg


def compose_command(schema, config_name: str, overrides: list[str] | tuple[str, ...] = (), checks=None):
    """A subcommand's config (conf/<config_name>.yaml + overrides) checked against its schema
    dataclass; `checks(raw) -> problems` adds the command's own checks to the same message."""
    raw = compose(config_name, overrides)
    problems = list(checks(raw)) if checks else []
    try:
        cfg = validate_section(schema, raw)
    except ConfigError as exc:
        problems = exc.problems + problems
    if problems:
        raise ConfigError(problems)
    return cfg
