"""Local data files checked line by line before `datasets` reads them (I/O).

`datasets` reads JSONL fast but its errors name neither file nor line. Every local
JSONL file therefore passes `check_jsonl` first: one message naming file:line for
non-UTF-8 bytes, a line that is not JSON or not an object, a missing or null
prompt, or a field of the wrong type. A UTF-8 BOM is accepted (the first row is
kept). `lenient=True` (alpaca-libre v2 has torn lines) skips and counts lines
that are not JSON instead of failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from refusal_lab.config import InputError

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


class DataError(InputError):
    """Bad input data: the message names the file (and line), the problem and the fix."""


@dataclass
class CheckedFile:
    path: Path
    rows: list[dict]  # the parsed rows (used when datasets cannot read the file)
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers skipped under lenient
    has_bom: bool = False


def _decode(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{lineno}: bytes that are not UTF-8 ({exc.reason} at byte {exc.start} of the line); "
            "re-save the file as UTF-8"
        ) from None


def check_row(row, path: Path, lineno: int, required: tuple[str, ...], text_fields: tuple[str, ...]) -> None:
    """One parsed row: an object, required fields present and non-empty strings, text fields strings or null."""
    where = f"{path}:{lineno}"
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per line, got {type(row).__name__} {str(row)[:60]!r}")
    for key in required:
        value = row.get(key)
        if value is None:
            problem = "is null" if key in row else "is missing"
            raise DataError(
                f"{where}: field {key!r} {problem} (fields present: {', '.join(row) or 'none'}); "
                f"every row needs a {key!r} string"
            )
        if not (isinstance(value, str) or isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
            raise DataError(f"{where}: field {key!r} is {type(value).__name__} {value!r}, expected a string")
    for key in text_fields:
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise DataError(f"{where}: field {key!r} is {type(value).__name__} {value!r}, expected a string or null")


def check_jsonl(
    path: Path, required: tuple[str, ...] = (), text_fields: tuple[str, ...] = (), lenient: bool = False
) -> CheckedFile:
    """Parse and check every line of a JSONL file; DataError names file:line on the first problem."""
    path = Path(path)
    out = CheckedFile(path, [])
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw, out.has_bom = raw[3:], True
            text = _decode(raw, path, lineno)
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                if lenient:
                    out.bad_lines.append(lineno)
                    continue
                raise DataError(
                    f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); fix or delete the line"
                ) from None
            check_row(row, path, lineno, required, text_fields)
            out.rows.append(row)
    return out


def first_bad_utf8_line(path: Path) -> int | None:
    """1-based line of the first non-UTF-8 bytes, None if the file decodes."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return None


def jsonl_files(path: Path, key: str) -> list[Path]:
    """A .jsonl file, or the .jsonl files of a folder (error naming the key when there are none)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{key}={str(path)!r}: {path} does not exist; point it at a .jsonl file or a folder of them")
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.jsonl"))
    if not files:
        others = sorted(p.name for p in path.iterdir())[:8]
        raise DataError(
            f"{key}={str(path)!r}: the folder holds no .jsonl files (it has: {', '.join(others) or 'nothing'}); "
            "point it at a folder of .jsonl files"
        )
    return files
