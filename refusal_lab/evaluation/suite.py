"""Evaluation sets and suites: presets in conf/eval_set and conf/suite, resolved and loaded
into Examples before any model is loaded (I/O, no model).

A set is a preset name (conf/eval_set/<name>.yaml), a preset's hub name
(walledai/XSTest), a path to a YAML file of the same shape, or a data file with
`prompt` and `label` columns (usual label names). A preset may start from another (`base: <name>`) and change only what
differs. Overrides are dotted keys under the set: `xstest.dataset.data_files=x.csv`
(or the short `xstest.data_files=x.csv` for any dataset field).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from dataclasses import dataclass
from pathlib import Path

from refusal_lab.config import DatasetSpec, EvalSetConfig, build_section
from refusal_lab.data.files import TABLE_SUFFIXES, DataError
from refusal_lab.data.records import Example
from refusal_lab.data.sources import eval_examples, read_table
from refusal_lab.paths import CONF_DIR, register_resolvers

log = logging.getLogger(__name__)
EVAL_SET_DIR = CONF_DIR / "eval_set"
SUITE_DIR = CONF_DIR / "suite"
_DATASET_FIELDS = {f.name for f in dataclasses.fields(DatasetSpec)}


@dataclass
class LoadedSet:
    cfg: EvalSetConfig
    rows: list[Example]
    origin: str


def preset_names() -> list[str]:
    return sorted(p.stem for p in EVAL_SET_DIR.glob("*.yaml"))


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def _unknown(kind: str, name: str, known: list[str], fix: str) -> DataError:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return DataError(f"{kind}={name!r}: unknown {kind}{hint} (available: {', '.join(known)}); {fix}")


def suite_sets(suite: str | None, sets: list[str]) -> list[str]:
    """Set names of a suite preset (or suite YAML path) followed by any sets named directly."""
    from omegaconf import OmegaConf

    names: list[str] = []
    if suite:
        path = Path(suite) if suite.endswith((".yaml", ".yml")) else SUITE_DIR / f"{suite}.yaml"
        if not path.exists():
            raise _unknown("suite", suite, suite_names(), "or give a YAML file with `sets: [...]`")
        raw = OmegaConf.to_container(OmegaConf.load(path))
        if not isinstance(raw, dict) or not isinstance(raw.get("sets"), list) or not raw["sets"]:
            raise DataError(f"suite={suite!r}: {path} must hold `sets: [name, ...]` with at least one set")
        names += [str(s) for s in raw["sets"]]
    names += [s for s in sets if s not in names]
    if not names:
        raise DataError(
            f"suite=None, sets=[]: name a suite (e.g. suite=coconot; available: {', '.join(suite_names())}) "
            f"or sets (e.g. sets=xstest,coconot_contrast)"
        )
    return names


def _preset_for_hub_name(name: str) -> str | None:
    """The preset whose hub dataset is `name` (e.g. walledai/XSTest -> xstest)."""
    from omegaconf import OmegaConf

    for preset in preset_names():
        path = OmegaConf.load(EVAL_SET_DIR / f"{preset}.yaml").get("dataset", {}).get("path")
        if isinstance(path, str) and path.lower() == name.lower():
            return preset
    return None


def _canonical(name: str) -> str:
    """A hub name that a preset loads becomes that preset's name."""
    is_file = name.endswith((".yaml", ".yml")) or Path(name).suffix in TABLE_SUFFIXES
    return (_preset_for_hub_name(name) or name) if "/" in name and not is_file else name


def _raw_preset(name: str, seen: tuple[str, ...] = ()) -> dict:
    from omegaconf import OmegaConf

    if Path(name).suffix in TABLE_SUFFIXES and Path(name).exists():  # a data file: prompt + label columns, usual labels
        return {"name": Path(name).stem, "dataset": {"path": name, "label_field": "label"}}
    name = _canonical(name)
    path = Path(name) if name.endswith((".yaml", ".yml")) else EVAL_SET_DIR / f"{name}.yaml"
    if not path.exists():
        raise _unknown(
            "eval_set", name, preset_names(), "or give a YAML file of the same shape (see conf/eval_set/xstest.yaml)"
        )
    raw = OmegaConf.load(path)
    base = raw.pop("base", None) if "base" in raw else None
    if base:
        if base in seen:
            raise DataError(f"eval_set={name!r}: base {base!r} refers back to itself")
        raw = OmegaConf.merge(OmegaConf.create(_raw_preset(str(base), seen + (name,))), raw)
    return OmegaConf.to_container(raw)


def resolve_set(name: str, overrides: dict[str, object] | None = None) -> EvalSetConfig:
    """The validated config of one set, with `<field>` or `dataset.<field>` overrides applied."""
    from omegaconf import OmegaConf

    register_resolvers()
    cfg = OmegaConf.create(_raw_preset(name))
    for key, value in (overrides or {}).items():
        full = f"dataset.{key}" if key in _DATASET_FIELDS else key
        OmegaConf.update(cfg, full, value, force_add=True)
    raw = OmegaConf.to_container(cfg, resolve=True)
    short = Path(_canonical(name)).stem
    raw.setdefault("name", short)
    problems: list[str] = []
    out = build_section(EvalSetConfig, raw, f"{short}.", problems)
    if problems:
        raise DataError(f"eval_set={name!r}: " + "; ".join(problems))
    return out


def load_set(cfg: EvalSetConfig) -> LoadedSet:
    table = read_table(cfg.dataset, cfg.name, gated=cfg.gated)
    rows = eval_examples(table, cfg.dataset, cfg.name)
    if cfg.expected_rows and len(rows) != cfg.expected_rows and not cfg.dataset.data_files:
        log.warning("%s: %d rows loaded, the published set has %d", cfg.name, len(rows), cfg.expected_rows)
    return LoadedSet(cfg, rows, table.origin)


def load_suite(names: list[str], overrides: dict[str, dict[str, object]] | None = None) -> list[LoadedSet]:
    """Every set of a suite, loaded; every bad set is reported in one DataError."""
    overrides = overrides or {}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise DataError(
            f"overrides for {', '.join(unknown)}: not a set of this run ({', '.join(names)}); "
            f"add them to sets= or fix the name"
        )
    loaded, problems = [], []
    for name in names:
        try:
            loaded.append(load_set(resolve_set(name, overrides.get(name))))
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        raise DataError(f"{len(problems)} problem(s) in the eval sets:\n" + "\n".join(f"  - {p}" for p in problems))
    return loaded
