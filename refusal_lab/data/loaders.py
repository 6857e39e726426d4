"""Data loaders (I/O): every source yields Examples with origin columns, then one
function turns the configured sources into train pools and an eval set.

Local CoCoNot files and the Hugging Face dataset share field names, so both go
through the same row parser; only where the rows come from differs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from refusal_lab.config import DataConfig
from refusal_lab.definitions import SOURCE_CONTRAST, SOURCE_GENERAL, SOURCE_REFUSAL, normalise_category, normalise_subcategory
from refusal_lab.data.records import Example
from refusal_lab.data.splitting import drop_exact_duplicates, drop_overlap_with_eval, split_pool

log = logging.getLogger(__name__)


class DataError(ValueError):
    pass


@dataclass
class SplitData:
    train: dict[str, list[Example]]           # source -> training pool
    eval: list[Example]                       # should-refuse and should-answer eval rows
    report: dict = field(default_factory=dict)  # dropped duplicates, skipped lines, pool sizes


def read_jsonl(path: Path) -> tuple[list[dict], int]:
    """Rows of a JSONL file; lines that do not parse are skipped and counted."""
    rows, bad = [], 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
    return rows, bad


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
        out.append(Example(prompt=r["prompt"], response=response, source=source, category=category,
                           subcategory=normalise_subcategory(r.get("subcategory")), should_refuse=source == SOURCE_REFUSAL,
                           origin=origin, id=str(r.get("id") or "")))
    return out


def _eval_rows(rows, source: str, origin: str) -> list[Example]:
    """Eval rows need no gold response: the model's own is scored."""
    return coconot_rows([{**r, "response": r.get("response") or "(eval)"} for r in rows], source, origin)


def general_rows(rows, origin: str) -> list[Example]:
    """Alpaca-style (instruction/input/output, status) or prompt/response or chat `messages` rows."""
    out = []
    for r in rows:
        if "status" in r and r["status"] != "ok":
            continue
        if "messages" in r:
            turns = r["messages"]
            user = next((m["content"] for m in turns if m.get("role") == "user"), None)
            reply = next((m["content"] for m in turns if m.get("role") == "assistant"), None)
            prompt, response = user, reply
        elif "instruction" in r:
            prompt = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
            response = r.get("output")
        else:
            prompt, response = r.get("prompt"), r.get("response")
        if prompt and response and prompt.strip() and response.strip():
            out.append(Example(prompt=prompt.strip(), response=response.strip(), source=SOURCE_GENERAL, category=None,
                               subcategory="", should_refuse=False, origin=origin))
    return out


def _require(path: Path, key: str, fix: str) -> Path:
    if not path.exists():
        raise DataError(f"{key}={str(path)!r}: {path} does not exist; {fix}")
    return path


def _hf(name: str, config: str | None, split: str):
    try:
        import datasets
    except ImportError as exc:  # optional dependency: only Hugging Face sources need it
        raise DataError(f"loading {name!r} by name needs the `datasets` package: pip install 'refusal-lab[hf]'") from exc
    return datasets.load_dataset(name, config, split=split)


def load(cfg: DataConfig) -> SplitData:
    report: dict = {}
    train: dict[str, list[Example]] = {}
    evals: list[Example] = []
    thr, seed = cfg.near_duplicate_jaccard, cfg.split_seed
    builtin = None
    if "builtin" in (cfg.refusal_source, cfg.contrast_source, cfg.general_source):
        from refusal_lab.data.builtin import builtin_pools
        builtin = builtin_pools()

    def split_by_fraction(rows, name, count=None):
        size = count if count is not None else round(cfg.eval_fraction * len(rows))
        tr, ev, rep = split_pool(rows, size, seed, thr)
        report[name] = {**rep, "train": len(tr), "eval": len(ev)}
        return tr, ev

    def fixed_eval(tr, ev, name):
        tr, exact = drop_exact_duplicates(tr)
        tr, overlap = drop_overlap_with_eval(tr, ev, thr)
        report[name] = {"exact_duplicates_dropped": exact, "dropped_overlapping_eval": overlap, "train": len(tr), "eval": len(ev)}
        return tr, ev

    coconot = Path(cfg.coconot_path)
    fix = "set data.coconot_path to the folder holding coconot_eval.jsonl (default ../shared/data/coconot) or use data=coconot_hf"
    # should-refuse pool
    if cfg.refusal_source == "builtin":
        tr, ev = split_by_fraction(builtin[SOURCE_REFUSAL], "refusal")
    elif cfg.refusal_source == "coconot_local":
        rows, bad = read_jsonl(_require(coconot / "coconot_eval.jsonl", "data.coconot_path", fix))
        tr, ev = split_by_fraction(coconot_rows(rows, SOURCE_REFUSAL, "coconot_eval.jsonl"), "refusal")
        report["refusal"]["unparsable_lines"] = bad
    else:
        tr = coconot_rows(_hf(cfg.coconot_hf_name, "original", "train"), SOURCE_REFUSAL, f"{cfg.coconot_hf_name}:original/train")
        ev = _eval_rows(_hf(cfg.coconot_hf_name, "original", "test"), SOURCE_REFUSAL, f"{cfg.coconot_hf_name}:original/test")
        tr, ev = fixed_eval(tr, ev, "refusal")
    train[SOURCE_REFUSAL], evals = tr, evals + ev
    # contrast pool
    if cfg.contrast_source == "builtin":
        tr, ev = split_by_fraction(builtin[SOURCE_CONTRAST], "contrast")
    elif cfg.contrast_source == "coconot_local":
        pref, bad1 = read_jsonl(_require(coconot / "coconot_pref.jsonl", "data.coconot_path", fix))
        cev, bad2 = read_jsonl(_require(coconot / "coconot_contrast_eval.jsonl", "data.coconot_path", fix))
        tr, ev = fixed_eval(coconot_rows(pref, SOURCE_CONTRAST, "coconot_pref.jsonl", "chosen"),
                            _eval_rows(cev, SOURCE_CONTRAST, "coconot_contrast_eval.jsonl"), "contrast")
        report["contrast"]["unparsable_lines"] = bad1 + bad2
    elif cfg.contrast_source == "coconot_hf":
        tr = coconot_rows(_hf(cfg.coconot_hf_name, "pref", "train"), SOURCE_CONTRAST, f"{cfg.coconot_hf_name}:pref/train", "chosen")
        ev = _eval_rows(_hf(cfg.coconot_hf_name, "contrast", "test"), SOURCE_CONTRAST, f"{cfg.coconot_hf_name}:contrast/test")
        tr, ev = fixed_eval(tr, ev, "contrast")
    else:
        tr, ev = [], []
    train[SOURCE_CONTRAST], evals = tr, evals + ev
    # general instructions
    if cfg.general_source == "builtin":
        rows = builtin[SOURCE_GENERAL]
    elif cfg.general_source == "jsonl":
        path = _require(Path(cfg.general_path), "data.general_path", "point it at a .jsonl file or a folder of them (e.g. ../shared/data/alpaca_libre)")
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        rows, bad = [], 0
        for f in files:
            parsed, n_bad = read_jsonl(f)
            rows += general_rows(parsed, f.name)
            bad += n_bad
        report["general_unparsable_lines"] = bad
        if bad:
            log.warning("skipped %d unparsable lines in %s", bad, path)
    elif cfg.general_source == "ultrachat_hf":
        rows = general_rows(_hf(cfg.general_hf_name, None, cfg.general_hf_split), f"{cfg.general_hf_name}:{cfg.general_hf_split}")
    else:
        rows = []
    if cfg.general_limit is not None:
        rows = rows[: cfg.general_limit]
    if rows:
        tr, ev = split_by_fraction(rows, "general", count=min(cfg.eval_general_count, len(rows) // 2))
    else:
        tr, ev = [], []
    train[SOURCE_GENERAL], evals = tr, evals + ev
    report["pool_sizes"] = {k: len(v) for k, v in train.items()}
    report["eval_sizes"] = {s: sum(e.source == s for e in evals) for s in (SOURCE_REFUSAL, SOURCE_CONTRAST, SOURCE_GENERAL)}
    return SplitData(train=train, eval=evals, report=report)
