"""Data loaders (I/O): every source yields Examples with origin columns, then one
function turns the configured sources into train pools and an eval set.

Every table is read by Hugging Face `datasets` (data/sources.py): local CoCoNot
and alpaca-libre files after a line-by-line check that names file:line
(data/files.py), hub sets by name, and any user file or hub set with a column
and label map (`data.<pool>_source=dataset`). A prompt never sits on both sides:
training rows whose prompt equals an eval row's (any source) are dropped and
counted in the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from refusal_lab.config import DataConfig, DatasetSpec
from refusal_lab.definitions import (
    SOURCE_CONTRAST,
    SOURCE_GENERAL,
    SOURCE_REFUSAL,
    normalise_category,
    normalise_subcategory,
)
from refusal_lab.data import sources
from refusal_lab.data.files import DataError, jsonl_files
from refusal_lab.data.records import Example
from refusal_lab.data.sources import read_table
from refusal_lab.data.splitting import (
    drop_cross_source_duplicates,
    drop_exact_duplicates,
    drop_overlap_with_eval,
    split_pool,
)

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    train: dict[str, list[Example]]  # source -> training pool
    eval: list[Example]  # should-refuse and should-answer eval rows
    report: dict = field(default_factory=dict)  # dropped duplicates, skipped lines, pool sizes


def coconot_file(path: Path) -> tuple[list[dict], int]:
    """Rows of a local CoCoNot JSONL file, checked line by line (file:line errors) and read by datasets."""
    spec = DatasetSpec(
        path=str(path), prompt_field="prompt", category_field="category", label="refuse"
    )  # other fields optional
    table = read_table(spec, str(path))
    return table.rows, table.skipped_lines


def coconot_rows(rows, source: str, origin: str, response_field: str = "response") -> list[Example]:
    """CoCoNot rows (local or HF) -> Examples; empty refusal responses are written per category."""
    from refusal_lab.data.refusal_responses import refusal_response

    out = []
    for r in rows:
        category = normalise_category(r.get("category"))
        if source == SOURCE_REFUSAL and category is None:
            raise DataError(f"{origin}: row {r.get('id')!r} has category {r.get('category')!r}, not a CoCoNot category")
        response = (r.get(response_field) or "").strip()
        if source == SOURCE_REFUSAL and not response:
            response = refusal_response(category, r["prompt"])
        if not response:
            continue  # a should-answer row without an answer cannot be trained on
        out.append(
            Example(
                prompt=r["prompt"],
                response=response,
                source=source,
                category=category,
                subcategory=normalise_subcategory(r.get("subcategory")),
                should_refuse=source == SOURCE_REFUSAL,
                origin=origin,
                id=str(r.get("id") or ""),
            )
        )
    return out


def _eval_rows(rows, source: str, origin: str) -> list[Example]:
    """Eval rows need no gold response: the model's own is scored."""
    return coconot_rows([{**r, "response": r.get("response") or "(eval)"} for r in rows], source, origin)


def _require(path: Path, key: str, fix: str) -> Path:
    if not path.exists():
        raise DataError(f"{key}={str(path)!r}: {path} does not exist; {fix}")
    return path


def _hf(name: str, config: str | None, split: str) -> list[dict]:
    return sources._read_hub(
        DatasetSpec(path=name, config=config, split=split), f"{name}:{config}/{split}", gated=False
    )


@dataclass
class Pool:
    """One source's rows before the train/eval split."""

    rows: list[Example]  # split by data.eval_fraction; or, with eval_rows, the training rows
    eval_rows: list[Example] | None = None  # the source's own eval split (CoCoNot's), kept as is
    unparsable_lines: int = 0  # torn lines skipped in its files


def load(cfg: DataConfig) -> SplitData:
    """The configured sources as training pools and one eval set, nothing on both sides."""
    report: dict = {}
    builtin = None
    if "builtin" in (cfg.refusal_source, cfg.contrast_source, cfg.general_source):
        from refusal_lab.data.builtin import builtin_pools

        builtin = builtin_pools()
    general = _general_pool(cfg, builtin, report)
    eval_general = min(cfg.eval_general_count, len(general.rows) // 2)
    train: dict[str, list[Example]] = {}
    evals: list[Example] = []
    for source, pool, eval_count in (
        (SOURCE_REFUSAL, _refusal_pool(cfg, builtin, report), None),
        (SOURCE_CONTRAST, _contrast_pool(cfg, builtin, report), None),
        (SOURCE_GENERAL, general, eval_general),
    ):
        train[source], ev = _split(pool, source, eval_count, cfg, report)
        evals += ev
    train, report["cross_source"] = drop_cross_source_duplicates(train, evals)
    report["pool_sizes"] = {k: len(v) for k, v in train.items()}
    report["eval_sizes"] = {
        s: sum(e.source == s for e in evals) for s in (SOURCE_REFUSAL, SOURCE_CONTRAST, SOURCE_GENERAL)
    }
    if not any(e.should_refuse for e in evals):
        raise DataError(
            "the eval split has no should-refuse rows (is the refusal source empty?); a run would report F1 0 "
            "and AUROC NaN. Check data.refusal_source and its files"
        )
    return SplitData(train=train, eval=evals, report=report)


def _split(pool: Pool, name: str, eval_count: int | None, cfg: DataConfig, report: dict):
    """(train, eval) of one pool: its own eval split kept (training rows overlapping it dropped),
    else `eval_count` rows (default data.eval_fraction of them) split off without near-duplicates across."""
    thr = cfg.near_duplicate_jaccard
    if pool.eval_rows is not None:
        tr, exact = drop_exact_duplicates(pool.rows)
        tr, overlap = drop_overlap_with_eval(tr, pool.eval_rows, thr)
        ev, rep = pool.eval_rows, {"exact_duplicates_dropped": exact, "dropped_overlapping_eval": overlap}
    else:
        size = eval_count if eval_count is not None else round(cfg.eval_fraction * len(pool.rows))
        tr, ev, rep = split_pool(pool.rows, size, cfg.split_seed, thr) if pool.rows else ([], [], {})
    report[name] = {**report.get(name, {}), **rep, "train": len(tr), "eval": len(ev)}
    if pool.unparsable_lines:
        report[name]["unparsable_lines"] = pool.unparsable_lines
    return tr, ev


COCONOT_FIX = "set data.coconot_path to the folder holding coconot_eval.jsonl (default ../shared/data/coconot) or use data=coconot_hf"


def _refusal_pool(cfg: DataConfig, builtin, report: dict) -> Pool:
    """Should-refuse rows: builtin, the local CoCoNot eval file, a user dataset, or CoCoNot on the hub."""
    if cfg.refusal_source == "builtin":
        return Pool(builtin[SOURCE_REFUSAL])
    if cfg.refusal_source == "coconot_local":
        rows, bad = coconot_file(
            _require(Path(cfg.coconot_path) / "coconot_eval.jsonl", "data.coconot_path", COCONOT_FIX)
        )
        return Pool(coconot_rows(rows, SOURCE_REFUSAL, "coconot_eval.jsonl"), unparsable_lines=bad)
    if cfg.refusal_source == "dataset":
        return Pool(_dataset_pool(cfg.refusal_dataset, "data.refusal_dataset", SOURCE_REFUSAL, report))
    name = cfg.coconot_hf_name
    return Pool(
        coconot_rows(_hf(name, "original", "train"), SOURCE_REFUSAL, f"{name}:original/train"),
        _eval_rows(_hf(name, "original", "test"), SOURCE_REFUSAL, f"{name}:original/test"),
    )


def _contrast_pool(cfg: DataConfig, builtin, report: dict) -> Pool:
    """Risky-looking prompts to answer: builtin, CoCoNot's pref + contrast files (local or hub), a user dataset."""
    if cfg.contrast_source == "builtin":
        return Pool(builtin[SOURCE_CONTRAST])
    if cfg.contrast_source == "coconot_local":
        folder = Path(cfg.coconot_path)
        pref, bad1 = coconot_file(_require(folder / "coconot_pref.jsonl", "data.coconot_path", COCONOT_FIX))
        cev, bad2 = coconot_file(_require(folder / "coconot_contrast_eval.jsonl", "data.coconot_path", COCONOT_FIX))
        return Pool(
            coconot_rows(pref, SOURCE_CONTRAST, "coconot_pref.jsonl", "chosen"),
            _eval_rows(cev, SOURCE_CONTRAST, "coconot_contrast_eval.jsonl"),
            bad1 + bad2,
        )
    if cfg.contrast_source == "coconot_hf":
        name = cfg.coconot_hf_name
        return Pool(
            coconot_rows(_hf(name, "pref", "train"), SOURCE_CONTRAST, f"{name}:pref/train", "chosen"),
            _eval_rows(_hf(name, "contrast", "test"), SOURCE_CONTRAST, f"{name}:contrast/test"),
        )
    if cfg.contrast_source == "dataset":
        return Pool(_dataset_pool(cfg.contrast_dataset, "data.contrast_dataset", SOURCE_CONTRAST, report))
    return Pool([])


def _general_pool(cfg: DataConfig, builtin, report: dict) -> Pool:
    """Ordinary instructions: builtin, alpaca-style JSONL, a user dataset or UltraChat; data.general_limit caps them."""
    bad = 0
    if cfg.general_source == "builtin":
        rows = builtin[SOURCE_GENERAL]
    elif cfg.general_source == "jsonl":
        rows, bad = alpaca_files(cfg.general_path)
        if not rows:
            raise DataError(
                f"data.general_path={cfg.general_path!r}: no usable instruction rows (empty, or every line torn or "
                "without instruction/output); point it at alpaca-style JSONL (instruction, input, output)"
            )
    elif cfg.general_source == "dataset":
        rows = _dataset_pool(cfg.general_dataset, "data.general_dataset", SOURCE_GENERAL, report)
    elif cfg.general_source == "ultrachat_hf":
        split = f"{cfg.general_hf_name}:{cfg.general_hf_split}"
        rows = sources.general_pool(_hf(cfg.general_hf_name, None, cfg.general_hf_split), split)
    else:
        rows = []
    return Pool(rows if cfg.general_limit is None else rows[: cfg.general_limit], unparsable_lines=bad)


def alpaca_files(path: str | None) -> tuple[list[Example], int]:
    """General instructions from a .jsonl file or folder (alpaca-libre): torn lines are skipped and counted."""
    rows, bad = [], 0
    for f in jsonl_files(Path(path or ""), "data.general_path"):
        spec = DatasetSpec(path=str(f), prompt_field="instruction", response_field="output", label="answer")
        try:
            table = read_table(spec, str(f), lenient=True)
        except DataError as exc:
            if "the set is empty" in str(exc):
                continue  # an empty file adds nothing; other problems stay errors
            raise
        rows += sources.general_pool(table.rows, f.name)
        bad += table.skipped_lines
    if bad:
        log.warning("skipped %d unparsable lines in %s", bad, path)
    return rows, bad


def _dataset_pool(spec: DatasetSpec, where: str, pool: str, report: dict) -> list[Example]:
    table = read_table(spec, where, lenient=False)
    rows, report[f"{pool}_dataset"] = sources.train_examples(table, spec, where, pool)
    return rows
