"""The one way eval, calibrate and serve read their arguments: `key=value` overrides of a
primary config in conf/ (conf/eval.yaml, ...), composed by Hydra and checked against the
command's schema dataclass by config.validate_section, as training is.

    refusal-lab eval --help          the keys with their one-line help (exit 0)
    refusal-lab eval --cfg job ...   the composed, validated config as YAML (exit 0)
    refusal-lab eval key=value ...   the config; every problem in one message (exit 2)
"""

from __future__ import annotations

import dataclasses
import sys

from refusal_lab.config import ConfigError, schema_help

HELP_FLAGS = ("-h", "--help")


def usage(schema, command: str) -> str:
    doc = (schema.__doc__ or "").strip()
    rows = schema_help(schema)
    width = max(len(k) for k, _, _ in rows) + 2
    lines = [
        f"usage: refusal-lab {command} [--help] [--cfg job] key=value ...",
        "",
        doc,
        "",
        f"keys (defaults from conf/{command}.yaml; Hydra override syntax):",
    ]
    lines += [f"  {key:<{width}}{help_} (default {default!r})" for key, default, help_ in rows]
    return "\n".join(lines)


def _wants_cfg(argv: list[str]) -> tuple[bool, list[str]]:
    for flag in ("--cfg", "-c"):
        if flag in argv:
            i = argv.index(flag)
            return True, argv[:i] + argv[i + 2 :]
    return False, argv


def parse(argv: list[str], schema, command: str, checks=None):
    """The command's config, or an exit status when there is nothing to run (help, --cfg, bad input).
    `checks(raw) -> problems` adds the command's own checks to the schema's message."""
    from refusal_lab.composing import compose_command

    if any(a in HELP_FLAGS for a in argv):
        print(usage(schema, command))
        return 0
    show, overrides = _wants_cfg(list(argv))
    try:
        cfg = compose_command(schema, command, overrides, checks)
    except ConfigError as exc:
        fail(command, exc)
        return 2
    if show:
        import yaml

        print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
        return 0
    return cfg


def fail(command: str, exc: Exception) -> int:
    """The one error format of every command: its name, the message, where the keys are listed."""
    lists_keys = command in ("eval", "calibrate", "serve")
    hint = f"\n(refusal-lab {command} --help lists every key)" if isinstance(exc, ConfigError) and lists_keys else ""
    print(f"refusal-lab {command}: {exc}{hint}", file=sys.stderr)
    return 2
