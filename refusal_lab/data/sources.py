"""Any table of prompts -> Examples, through Hugging Face `datasets` (I/O + row mapping).

A DatasetSpec (config.py) names where the rows are (a hub name with a pinned
revision/config/split, or local csv/json/jsonl/parquet files) and how its columns
and label values map onto the project's rows. The same path serves training
sources and evaluation sets. Every problem (missing column, a label outside the
map, a gated set without a token, an empty table) is a DataError naming the set,
the field and the fix, raised before any model is loaded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from refusal_lab.config import DatasetSpec
from refusal_lab.data.files import TABLE_SUFFIXES, DataError, check_jsonl, first_bad_utf8_line
from refusal_lab.data.records import Example
from refusal_lab.definitions import (
    SOURCE_CONTRAST,
    SOURCE_GENERAL,
    SOURCE_REFUSAL,
    normalise_category,
    normalise_subcategory,
)

log = logging.getLogger(__name__)
REFUSE, ANSWER = "refuse", "answer"
USUAL_LABELS = {
    "unsafe": REFUSE,
    "safe": ANSWER,
    "harmful": REFUSE,
    "unharmful": ANSWER,
    REFUSE: REFUSE,
    ANSWER: ANSWER,
    "True": REFUSE,
    "False": ANSWER,
    "true": REFUSE,
    "false": ANSWER,
    "1": REFUSE,
    "0": ANSWER,
}


def label_map(spec: DatasetSpec) -> dict[str, str]:
    """The spec's label map with keys as strings; null = the usual label names."""
    return {str(k): v for k, v in spec.label_map.items()} if spec.label_map is not None else dict(USUAL_LABELS)


@dataclass
class Table:
    rows: list[dict]  # one dict per row, every column
    columns: list[str]
    origin: str  # hub name:config/split or the file name(s)
    skipped_lines: int = 0  # unparsable JSONL lines skipped (lenient files only)


def _datasets():
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def local_files(spec: DatasetSpec) -> list[Path] | None:
    """The local files a spec reads (data_files, or a path that exists here); None = the hub."""
    target = spec.data_files or (spec.path if spec.path and Path(spec.path).exists() else None)
    if target is None:
        return None
    path = Path(target)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in TABLE_SUFFIXES)
    return [path]


def _read_local_file(path: Path, spec: DatasetSpec, where: str, lenient: bool) -> tuple[list[dict], int]:
    if not path.exists():
        raise DataError(f"{where}: {path} does not exist; fix the path (or data_files) of the set")
    kind = TABLE_SUFFIXES.get(path.suffix)
    if kind is None:
        raise DataError(f"{where}: {path.name} is not a .csv, .tsv, .json, .jsonl or .parquet file")
    if path.suffix == ".jsonl":
        required = () if spec.messages_field else (spec.prompt_field,)
        text_fields = tuple(f for f in (spec.category_field, spec.subcategory_field, spec.response_field) if f)
        checked = check_jsonl(path, required, text_fields, lenient=lenient)
        if not checked.rows:
            return [], len(checked.bad_lines)  # an empty file: reported as an empty set by the caller
        if checked.bad_lines:  # datasets rejects the whole file; the line parser keeps the rest, counted
            log.warning(
                "%s: %d lines are not JSON (first at line %d): skipped, the other rows read by the line parser",
                path,
                len(checked.bad_lines),
                checked.bad_lines[0],
            )
            return checked.rows, len(checked.bad_lines)
    elif path.stat().st_size == 0:
        return [], 0
    elif kind == "csv" and (bad := first_bad_utf8_line(path)):
        raise DataError(f"{path}:{bad}: bytes that are not UTF-8; re-save the file as UTF-8")
    extra = {"encoding": "utf-8-sig", **({"delimiter": "\t"} if path.suffix == ".tsv" else {})} if kind == "csv" else {}
    extra.update(
        {
            k: v
            for k, v in (spec.load_options or {}).items()
            if kind == "csv" or k not in ("delimiter", "keep_default_na")
        }
    )
    try:
        ds = _datasets().load_dataset(kind, data_files=str(path), split="train", **extra)
    except Exception as exc:  # datasets wraps parser errors in many types; the message names the file
        raise DataError(
            f"{where}: {path} could not be read as {kind} ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return ds.to_list(), 0


def hf_token_present() -> bool:
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return True
    try:
        from huggingface_hub import get_token

        return bool(get_token())
    except Exception:
        return False


def _read_hub(spec: DatasetSpec, where: str, gated: bool) -> list[dict]:
    if gated and not hf_token_present():
        raise DataError(
            f"{where}: {spec.path} is gated on the Hugging Face Hub and no token is set: accept its terms at "
            f"https://huggingface.co/datasets/{spec.path}, then `huggingface-cli login` (or export HF_TOKEN); "
            f"or point {where}.data_files at a local copy"
        )
    try:
        ds = _datasets().load_dataset(
            spec.path, spec.config, split=spec.split, revision=spec.revision, **(spec.load_options or {})
        )
    except Exception as exc:
        raise DataError(
            f"{where}: could not load {spec.path!r} (config {spec.config!r}, split {spec.split!r}, revision "
            f"{spec.revision!r}) from the hub: {type(exc).__name__}: {str(exc)[:200]}; without network, download "
            f"it elsewhere and set {where}.data_files to the local file"
        ) from None
    return ds.to_list()


def read_table(spec: DatasetSpec, where: str, gated: bool = False, lenient: bool = False) -> Table:
    """Every row of the spec's table; `where` names the set or config key in messages."""
    if not spec.path and not spec.data_files:
        raise DataError(f"{where}.path=None: name a hub dataset or a local file")
    files = local_files(spec)
    if files is None:
        rows, skipped = _read_hub(spec, where, gated), 0
        origin = f"{spec.path}:{spec.config or 'default'}/{spec.split}"
    else:
        if not files:
            raise DataError(f"{where}: {spec.data_files or spec.path} holds no .csv, .json, .jsonl or .parquet files")
        rows, skipped = [], 0
        for f in files:
            part, bad = _read_local_file(f, spec, where, lenient)
            rows += part
            skipped += bad
        origin = ",".join(f.name for f in files)
    if spec.filter_field:
        if rows and spec.filter_field not in rows[0]:
            raise _missing_column(where, "filter_field", spec.filter_field, rows, origin)
        keep = {str(v) for v in spec.filter_values}
        rows = [r for r in rows if str(r.get(spec.filter_field)) in keep]
    if not rows:
        raise DataError(
            f"{where}: the set is empty ({origin} has no rows{' after the filter' if spec.filter_field else ''}); "
            "check the file, split or filter_values"
        )
    columns = list(dict.fromkeys(k for r in rows[:50] for k in r))
    check_columns(spec, where, columns, origin)
    return Table(rows, columns, origin, skipped)


def _missing_column(where: str, key: str, value: str, rows_or_columns, origin: str = "") -> DataError:
    columns = (
        list(rows_or_columns[0]) if rows_or_columns and isinstance(rows_or_columns[0], dict) else list(rows_or_columns)
    )
    return DataError(
        f"{where}.{key}={value!r}: no such column in {origin or 'the set'}; its columns are {', '.join(columns)}; "
        f"set {where}.{key} to one of them"
    )


def check_columns(spec: DatasetSpec, where: str, columns: list[str], origin: str = "") -> None:
    fields = {
        "prompt_field": None if spec.messages_field else spec.prompt_field,
        "label_field": spec.label_field,
        "category_field": spec.category_field,
        "subcategory_field": spec.subcategory_field,
        "id_field": spec.id_field,
        "messages_field": spec.messages_field,
        "response_field": spec.response_field,
    }
    for key, col in fields.items():
        if col and col not in columns:
            raise _missing_column(where, key, col, columns, origin)
    if spec.label_field is None and spec.label not in (REFUSE, ANSWER):
        raise DataError(
            f"{where}.label={spec.label!r}: with no label_field every row needs the fixed label refuse or answer; "
            "set label_field (and label_map) or label"
        )
    bad = [f"{k}: {v}" for k, v in label_map(spec).items() if v not in (REFUSE, ANSWER)]
    if bad:
        raise DataError(f"{where}.label_map: values must be refuse or answer, got {', '.join(bad)}")


def row_labels(table: Table, spec: DatasetSpec, where: str) -> list[bool]:
    """should_refuse per row; every label value outside the map is named at once."""
    if spec.label_field is None:
        return [spec.label == REFUSE] * len(table.rows)
    mapping = label_map(spec)
    values = [str(r.get(spec.label_field)) for r in table.rows]
    unknown = sorted(set(values) - set(mapping))
    if unknown:
        first = next(i for i, v in enumerate(values) if v in unknown) + 1
        raise DataError(
            f"{where}.label_field={spec.label_field!r}: values {', '.join(map(repr, unknown))} in {table.origin} "
            f"(first in row {first}) are not in label_map "
            f"({', '.join(f'{k}: {v}' for k, v in mapping.items()) or 'empty'}); add them to {where}.label_map "
            "as refuse or answer"
        )
    return [mapping[v] == REFUSE for v in values]


def _turns(row: dict, spec: DatasetSpec, where: str, index: int) -> tuple[tuple, str, str]:
    """(history, prompt, trailing assistant text) of a row; multi-turn rows answer their last user turn."""
    if not spec.messages_field:
        prompt = row.get(spec.prompt_field)
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]  # a one-turn list of user turns (SORRY-Bench `turns`)
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(
                f"{where}: row {index + 1} has {spec.prompt_field}={prompt!r}; every row needs a non-empty prompt string"
            )
        reply = row.get(spec.response_field) if spec.response_field else None
        return (), prompt.strip(), reply.strip() if isinstance(reply, str) else ""
    turns = row.get(spec.messages_field)
    if not isinstance(turns, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in turns):
        raise DataError(f"{where}: row {index + 1}: {spec.messages_field} must be a list of {{role, content}} objects")
    reply = ""
    if turns and turns[-1]["role"] == "assistant":
        reply, turns = str(turns[-1]["content"]).strip(), turns[:-1]
    if not turns or turns[-1]["role"] != "user":
        raise DataError(
            f"{where}: row {index + 1}: the chat in {spec.messages_field} must end with a user turn "
            "(optionally followed by the assistant's answer)"
        )
    history = tuple((m["role"], str(m["content"])) for m in turns[:-1])
    return history, str(turns[-1]["content"]).strip(), reply


def _text(row: dict, col: str | None) -> str:
    value = row.get(col) if col else None
    return "" if value is None else str(value)


def eval_examples(table: Table, spec: DatasetSpec, name: str) -> list[Example]:
    """Eval-set rows: should-refuse rows as source refusal, the others as contrast; the
    set's own category is kept."""
    labels = row_labels(table, spec, name)
    out = []
    for i, (row, refuse) in enumerate(zip(table.rows, labels)):
        history, prompt, _ = _turns(row, spec, name, i)
        out.append(
            Example(
                prompt=prompt,
                response="",
                source=SOURCE_REFUSAL if refuse else SOURCE_CONTRAST,
                category=_text(row, spec.category_field) or None,
                subcategory=_text(row, spec.subcategory_field),
                should_refuse=refuse,
                origin=name,
                id=_text(row, spec.id_field),
                history=history,
            )
        )
    return out


def train_examples(table: Table, spec: DatasetSpec, where: str, pool: str) -> tuple[list[Example], dict]:
    """Training rows of one pool: refusal keeps rows labelled refuse (missing answers are written
    per category); contrast/general keep rows labelled answer that have an answer."""
    from refusal_lab.data.refusal_responses import refusal_response

    labels = row_labels(table, spec, where)
    want_refuse = pool == SOURCE_REFUSAL
    fallback = normalise_category(spec.default_category)
    out, other_label, no_answer = [], 0, 0
    for i, (row, refuse) in enumerate(zip(table.rows, labels)):
        if refuse != want_refuse:
            other_label += 1
            continue
        history, prompt, reply = _turns(row, spec, where, i)
        raw_cat = _text(row, spec.category_field)
        category = (
            (normalise_category(raw_cat) or fallback)
            if want_refuse
            else (normalise_category(raw_cat) if pool == SOURCE_CONTRAST else None)
        )
        sub = _text(row, spec.subcategory_field) or ("" if normalise_category(raw_cat) else raw_cat)
        if want_refuse and not reply:
            reply = refusal_response(category, prompt)
        if not reply:
            no_answer += 1
            continue
        out.append(
            Example(
                prompt=prompt,
                response=reply,
                source=pool,
                category=category,
                subcategory=normalise_subcategory(sub),
                should_refuse=want_refuse,
                origin=table.origin,
                id=_text(row, spec.id_field),
                history=history,
            )
        )
    if not out:
        need = (
            "labelled refuse"
            if want_refuse
            else f"labelled answer with an answer in response_field ({spec.response_field!r})"
        )
        raise DataError(
            f"{where}: no rows {need} among {len(table.rows)} ({other_label} have the other label, {no_answer} lack an "
            f"answer); check label_map and response_field"
        )
    report = {
        "rows_read": len(table.rows),
        "other_label": other_label,
        "no_answer_skipped": no_answer,
        "unparsable_lines": table.skipped_lines,
    }
    return out, report


def general_pool(rows: list[dict], origin: str) -> list[Example]:
    """Instruction rows in any of the usual shapes (alpaca instruction/input/output with status,
    prompt/response, or a chat `messages` list) -> general Examples."""
    out = []
    for r in rows:
        if "status" in r and r["status"] != "ok":
            continue
        if isinstance(r.get("messages"), list):
            turns = r["messages"]
            prompt = next((m.get("content") for m in turns if m.get("role") == "user"), None)
            response = next((m.get("content") for m in turns if m.get("role") == "assistant"), None)
        elif "instruction" in r:
            prompt = (r["instruction"] or "") + (f"\n\n{r['input']}" if r.get("input") else "")
            response = r.get("output")
        else:
            prompt, response = r.get("prompt"), r.get("response")
        if isinstance(prompt, str) and isinstance(response, str) and prompt.strip() and response.strip():
            out.append(
                Example(
                    prompt=prompt.strip(),
                    response=response.strip(),
                    source=SOURCE_GENERAL,
                    category=None,
                    subcategory="",
                    should_refuse=False,
                    origin=origin,
                )
            )
    return out
