"""Read offline W&B runs back from disk, with no server and no `wandb sync`.

An offline run directory (``.../wandb/offline-run-<time>-<id>/``) holds:

* ``run-<id>.wandb``: the transaction log, the only place that has config,
  summary, history, tags, group and exit code. wandb 0.31 writes no
  config.yaml, wandb-summary.json or history JSONL for offline runs.
* ``files/media/table/**/*.table.json``: logged ``wandb.Table`` values as plain
  JSON ``{"columns": [...], "data": [[...], ...]}``.

Reading method: this module parses the ``.wandb`` file itself, with the
protobuf classes that wandb ships (``wandb.proto.wandb_internal_pb2.Record``).
It does not shell out to ``wandb leet inspect --json`` (that works too, but
costs about 1.2 s per run in a subprocess, against a few milliseconds here).

File format (LevelDB log format as written by wandb-core's
``core/pkg/leveldb`` package, unchanged across the supported range):

* a 7-byte file header: ident ``b":W&B"``, magic ``0xBEE1`` (uint16 LE),
  version ``0`` (uint8);
* then 32 KiB blocks (the file header sits inside the first block); each block
  holds chunks with a 7-byte header ``crc32(4, LE) length(2, LE) type(1)``
  where type is FULL=1, FIRST=2, MIDDLE=3, LAST=4 and the checksum is the
  standard IEEE CRC-32 (``zlib.crc32``) of the type byte followed by the
  payload (not LevelDB's masked CRC-32C). A chunk never crosses a block; when
  fewer than 7 bytes are left in a block they are zero padding;
* a record is one FULL chunk or FIRST, MIDDLE*, LAST; its bytes are one
  serialized ``Record`` protobuf.

wandb-core buffers records and writes them to the file every
``x_transaction_log_flush_interval`` seconds (a ``wandb.Settings`` field,
default 15.0; 0 means only when a 32 KiB block fills or the run finishes). A
job killed with SIGKILL loses what was not flushed; when the file ends inside a
record, the reader keeps every complete record before it. A run with no exit
record (killed, or still running) gets ``state == "incomplete"``.

Tested (tests/test_wandb_offline.py, real offline runs written and read back)
with wandb 0.22.0, 0.26.1 and 0.31.0, each reading its own files; 0.31.0 also
read files written by 0.22.0 and the reverse. The record format (including
``nested_key`` history and summary items and the optional typed history values
of ``x_history_value_encoding="json,typed"``) is the same across
``WANDB_SUPPORTED``. ``x_transaction_log_flush_interval`` exists in 0.31.0 but
not in 0.26.1 or 0.22.0: there, records reach the file only when a 32 KiB
block fills or the run finishes, so a killed job keeps little or nothing.

Import cost: ``import wandb.proto.wandb_internal_pb2`` runs ``wandb/__init__``
(the package has no import-light path), about 0.8 s once per process; the
import is done lazily on the first read, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported lazily, only when a run has tables
    import pandas as pd

WANDB_SUPPORTED = ">=0.22,<0.32"
"""wandb versions whose offline runs this reader supports (pip specifier)."""

WANDB_TESTED_VERSIONS = ("0.22.0", "0.26.1", "0.31.0")
"""wandb versions whose files this reader was checked against."""

STATE_FINISHED = "finished"
STATE_FAILED = "failed"
STATE_INCOMPLETE = "incomplete"

_FILE_IDENT = b":W&B"
_FILE_MAGIC = 0xBEE1
_FILE_VERSION = 0
_HEADER_LEN = 7  # both the file header and each chunk header are 7 bytes
_BLOCK_LEN = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# CRC of a chunk = crc32(type byte + payload); seed with the type byte's CRC.
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}
_CHUNK_HEADER = struct.Struct("<IHB")

_RUN_DIR_GLOB = "offline-run-*"
_RUN_DIR_RE = re.compile(r"^offline-run-.*-(?P<id>[^-]+)$")
_RUN_FILE_RE = re.compile(r"^run-(?P<id>.+)\.wandb$")
_INTERNAL_KEY = "_wandb"  # wandb's own bookkeeping in config and summary
_TABLE_TYPES = ("table-file",)


@dataclasses.dataclass
class OfflineRun:
    """One offline W&B run as read from its directory."""

    id: str
    name: str  # display name; the run id when none was set
    project: str | None
    group: str | None
    job_type: str | None
    tags: list[str]
    config: dict  # plain values, nested dicts kept, no "_wandb"
    summary: dict  # final values, e.g. {"eval/f1": 0.8, "_step": 9}; no "_wandb"
    history: list[dict]  # one dict per logged step, in logged order, with "_step"
    tables: dict[str, pd.DataFrame]  # logged wandb.Table values by key (last logged wins)
    state: str  # "finished" | "failed" | "incomplete"
    run_dir: Path
    exit_code: int | None = None
    wandb_version: str | None = None  # the version that wrote the file, when recorded
    warnings: list[str] = dataclasses.field(default_factory=list)


# ----------------------------------------------------------------------------- discovery


def find_offline_runs(root: Path | str) -> list[Path]:
    """Every offline run directory at or below ``root``, sorted.

    A run directory is a directory named ``offline-run-*`` that contains a
    ``run-*.wandb`` file. Symlinks (wandb's ``latest-run``) are not followed,
    and the search does not descend into run directories.
    """
    root = Path(root)
    found: list[Path] = []
    if not root.is_dir():
        return found
    if _is_run_dir(root):
        return [root]
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        keep = []
        for d in dirnames:
            p = Path(dirpath, d)
            if p.match(_RUN_DIR_GLOB) and not p.is_symlink():
                if _is_run_dir(p):
                    found.append(p)
                continue  # offline runs do not nest
            keep.append(d)
        dirnames[:] = keep
    return sorted(found)


def _is_run_dir(p: Path) -> bool:
    return p.name.startswith("offline-run-") and p.is_dir() and any(p.glob("run-*.wandb"))


def read_offline_runs(root: Path | str) -> list[OfflineRun]:
    """``read_offline_run`` for every directory ``find_offline_runs`` finds."""
    return [read_offline_run(d) for d in find_offline_runs(root)]


# ----------------------------------------------------------------------------- reading


def read_offline_run(run_dir: Path | str) -> OfflineRun:
    """Read one offline run directory (or its ``run-*.wandb`` file).

    Raises ``FileNotFoundError`` when there is no ``.wandb`` file and
    ``ValueError`` when the file is not a W&B transaction log of a known
    version. A truncated or partly corrupt file is read as far as it goes;
    what was skipped is listed in ``OfflineRun.warnings``. ``state`` comes from
    the exit record alone: "finished" (exit code 0), "failed" (nonzero) or
    "incomplete" (none: killed, or still running).
    """
    run_dir = Path(run_dir)
    if run_dir.is_file():
        wandb_file, run_dir = run_dir, run_dir.parent
    else:
        wandb_file = _pick_wandb_file(run_dir)
    data = wandb_file.read_bytes()
    warnings: list[str] = []
    payloads, truncated = _split_records(data, warnings, wandb_file)

    pb = _pb()
    st = _State()
    for payload in payloads:
        rec = pb.Record()
        try:
            rec.ParseFromString(payload)
        except Exception as e:  # google.protobuf.message.DecodeError
            warnings.append(f"{wandb_file.name}: undecodable record skipped ({e})")
            continue
        _apply_record(st, rec, warnings)

    if st.exit_code is None:
        state = STATE_INCOMPLETE
    else:
        state = STATE_FINISHED if st.exit_code == 0 else STATE_FAILED
    if truncated:
        warnings.append(
            f"{wandb_file.name}: file ends inside a record (killed or still running); "
            "read up to the last complete record"
        )

    summary = st.summary.resolve(warnings)
    if state == STATE_INCOMPLETE or not st.summary:
        # A killed run never wrote its final summary: fill from the last value of
        # each history key (explicit summary updates win).
        last: dict = {}
        for row in st.history:
            last.update(row)
        for k, v in last.items():
            if k not in summary:
                summary[k] = _copy(v)
    summary.pop(_INTERNAL_KEY, None)

    config = _unwrap_config(st.config.resolve(warnings))
    config.pop(_INTERNAL_KEY, None)

    run_id = st.run_id or _id_from_names(wandb_file, run_dir)
    return OfflineRun(
        id=run_id,
        name=st.display_name or run_id,
        project=st.project or None,
        group=st.group or None,
        job_type=st.job_type or None,
        tags=list(st.tags),
        config=config,
        summary=summary,
        history=st.history,
        tables=_load_tables(run_dir, st.history, summary, warnings),
        state=state,
        run_dir=run_dir,
        exit_code=st.exit_code,
        wandb_version=st.wandb_version,
        warnings=warnings,
    )


def _pick_wandb_file(run_dir: Path) -> Path:
    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    m = _RUN_DIR_RE.match(run_dir.name)
    if m:
        for f in files:
            if f.name == f"run-{m.group('id')}.wandb":
                return f
    return files[0]


def _id_from_names(wandb_file: Path, run_dir: Path) -> str:
    m = _RUN_FILE_RE.match(wandb_file.name)
    if m:
        return m.group("id")
    m = _RUN_DIR_RE.match(run_dir.name)
    return m.group("id") if m else run_dir.name


_PB = None


def _pb():
    """wandb's protobuf module, imported on first use (costs ~0.8 s: it runs wandb/__init__)."""
    global _PB
    if _PB is None:
        from wandb.proto import wandb_internal_pb2

        _PB = wandb_internal_pb2
    return _PB


# ----------------------------------------------------------------------------- framing


def _split_records(data: bytes, warnings: list[str], where: Path) -> tuple[list[bytes], bool]:
    """The record payloads of a .wandb file, and whether it ends inside a record."""
    name = where.name
    if len(data) < _HEADER_LEN:
        if data and not _FILE_IDENT.startswith(data[:4]):
            raise ValueError(f"{where}: not a W&B transaction log")
        warnings.append(f"{name}: file header incomplete ({len(data)} bytes)")
        return [], True
    ident, magic, version = struct.unpack_from("<4sHB", data, 0)
    if ident != _FILE_IDENT or magic != _FILE_MAGIC:
        raise ValueError(f"{where}: not a W&B transaction log (header {data[:7]!r})")
    if version != _FILE_VERSION:
        raise ValueError(
            f"{where}: transaction log version {version} is not supported "
            f"(this reader knows version {_FILE_VERSION}; wandb {WANDB_SUPPORTED})"
        )

    n = len(data)
    pos = _HEADER_LEN
    payloads: list[bytes] = []
    parts: list[bytes] | None = None  # chunks of a FIRST..LAST record being assembled
    truncated = False
    bad_chunks = 0
    crc32 = zlib.crc32
    unpack = _CHUNK_HEADER.unpack_from
    while pos < n:
        block_left = _BLOCK_LEN - pos % _BLOCK_LEN
        if block_left < _HEADER_LEN:  # zero trailer of a block
            pos += block_left
            continue
        if pos + _HEADER_LEN > n:
            truncated = True  # file ends inside a chunk header
            break
        crc, length, ctype = unpack(data, pos)
        if crc == 0 and length == 0 and ctype == 0:
            pos += block_left  # zeroed rest of block (preallocated file)
            continue
        end = pos + _HEADER_LEN + length
        if end > pos + block_left or ctype not in _TYPE_CRC:
            bad_chunks += 1  # corrupt header: resume at the next block
            parts = None
            pos += block_left
            continue
        if end > n:
            truncated = True  # file ends inside a chunk payload
            break
        chunk = data[pos + _HEADER_LEN : end]
        pos = end
        if crc32(chunk, _TYPE_CRC[ctype]) != crc:
            bad_chunks += 1  # corrupt payload: drop it and its record
            parts = None
            continue
        if ctype == _FULL:
            if parts is not None:
                bad_chunks += 1
            parts = None
            payloads.append(chunk)
        elif ctype == _FIRST:
            if parts is not None:
                bad_chunks += 1
            parts = [chunk]
        elif parts is None:  # MIDDLE/LAST without FIRST (after corruption)
            bad_chunks += 1
        elif ctype == _MIDDLE:
            parts.append(chunk)
        else:
            parts.append(chunk)
            payloads.append(b"".join(parts))
            parts = None
    if parts is not None:
        truncated = True  # FIRST/MIDDLE seen, LAST never written
    if bad_chunks:
        warnings.append(f"{name}: skipped {bad_chunks} corrupt or orphaned chunk(s)")
    return payloads, truncated


# ----------------------------------------------------------------------------- records


class _State:
    __slots__ = (
        "run_id",
        "display_name",
        "project",
        "group",
        "job_type",
        "tags",
        "config",
        "summary",
        "history",
        "exit_code",
        "wandb_version",
    )

    def __init__(self):
        self.run_id = ""
        self.display_name = ""
        self.project = ""
        self.group = ""
        self.job_type = ""
        self.tags: list[str] = []
        self.config = _Updates()
        self.summary = _Updates()
        self.history: list[dict] = []
        self.exit_code: int | None = None
        self.wandb_version: str | None = None


def _apply_record(st: _State, rec, warnings: list[str]) -> None:
    kind = rec.WhichOneof("record_type")
    if kind == "history":
        st.history.append(_history_row(rec.history, warnings))
    elif kind == "summary":
        st.summary.add(rec.summary)
    elif kind == "config":
        st.config.add(rec.config)
    elif kind == "run":
        run = rec.run
        # a resumed run may write another run record: later non-empty fields win
        st.run_id = run.run_id or st.run_id
        st.display_name = run.display_name or st.display_name
        st.project = run.project or st.project
        st.group = run.run_group or st.group
        st.job_type = run.job_type or st.job_type
        if run.tags:
            st.tags = list(run.tags)
        if run.HasField("config"):
            st.config.add(run.config)
        if run.HasField("summary"):
            st.summary.add(run.summary)
        if st.wandb_version is None and run.HasField("telemetry") and run.telemetry.cli_version:
            st.wandb_version = run.telemetry.cli_version
    elif kind == "exit":
        st.exit_code = int(rec.exit.exit_code)
    elif kind == "header":
        producer = rec.header.version_info.producer
        if producer:
            st.wandb_version = producer.split("+", 1)[0]


def _path(item) -> tuple[str, ...]:
    nested = item.nested_key
    return tuple(nested) if nested else (item.key,)


_NUMBER_START = frozenset("-0123456789")
_json_decode = json.JSONDecoder().decode  # accepts NaN / Infinity / -Infinity, which wandb writes


def _json(text: str, warnings: list[str]) -> Any:
    if not text:
        return None
    if text[0] in _NUMBER_START:  # fast path: most logged values are numbers
        try:
            if "." in text or "e" in text or "E" in text or "I" in text:
                return float(text)
            return int(text)
        except ValueError:
            pass
    try:
        return _json_decode(text)
    except ValueError:
        warnings.append(f"undecodable JSON value kept as text: {text[:80]!r}")
        return text


_HAS_TYPED: bool | None = None


def _item_value(item, warnings: list[str]) -> Any:
    """A history item's value: the typed form when present, else its JSON form."""
    global _HAS_TYPED
    if _HAS_TYPED is None:
        _HAS_TYPED = "value" in item.DESCRIPTOR.oneofs_by_name
    if _HAS_TYPED:
        which = item.WhichOneof("value")
        if which is not None:
            if which == "none":
                return None
            if which == "json":
                return _json(item.json, warnings)
            return getattr(item, which)  # boolean | integer | number | text
    return _json(item.value_json, warnings)


def _history_row(hist, warnings: list[str]) -> dict:
    row: dict = {}
    for item in hist.item:
        path = _path(item)
        if len(path) == 1:
            row[path[0]] = _item_value(item, warnings)
        else:
            _set_path(row, path, _item_value(item, warnings))
    if "_step" not in row and hist.HasField("step"):
        row["_step"] = hist.step.num
    return row


class _Updates:
    """Summary or config updates and removes, applied in record order.

    Only the last operation on each key path matters, so the pass over the
    records just remembers it (summaries repeat every logged value once per
    step); ``resolve`` then decodes each surviving value once and applies the
    operations in the order of their last occurrence, which gives the same
    result as applying every operation in turn.
    """

    __slots__ = ("ops",)

    _REMOVE = object()

    def __init__(self):
        # key path -> JSON text of its last update, or _REMOVE; kept in order of last write
        self.ops: dict[tuple[str, ...], Any] = {}

    def add(self, rec) -> None:
        ops = self.ops
        for item in rec.update:
            path = _path(item)
            ops.pop(path, None)  # re-insert so that dict order = order of last write
            ops[path] = item.value_json
        for item in rec.remove:
            path = _path(item)
            ops.pop(path, None)
            ops[path] = self._REMOVE

    def __bool__(self) -> bool:
        return bool(self.ops)

    def resolve(self, warnings: list[str]) -> dict:
        out: dict = {}
        for path, text in self.ops.items():
            if text is self._REMOVE:
                _del_path(out, path)
            else:
                _set_path(out, path, _json(text, warnings))
        return out


def _set_path(d: dict, path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        nxt = d.get(k)
        if not isinstance(nxt, dict):
            nxt = d[k] = {}
        d = nxt
    d[path[-1]] = value


def _del_path(d: dict, path: tuple[str, ...]) -> None:
    for k in path[:-1]:
        d = d.get(k)
        if not isinstance(d, dict):
            return
    d.pop(path[-1], None)


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def _unwrap_config(config: dict) -> dict:
    """Drop W&B's ``{"value": v, "desc": ...}`` wrappers (config.yaml style).

    Config records hold plain values, so this only fires when every entry is
    wrapped; a user value that merely looks like a wrapper is left alone.
    """
    entries = {k: v for k, v in config.items() if k != _INTERNAL_KEY}
    if entries and all(isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"} for v in entries.values()):
        return {k: (v["value"] if k != _INTERNAL_KEY else v) for k, v in config.items()}
    return config


# ----------------------------------------------------------------------------- tables


def _table_refs(value: Any, name: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        if value.get("_type") in _TABLE_TYPES and isinstance(value.get("path"), str):
            out[name] = value["path"]
            return
        for k, v in value.items():
            if isinstance(v, dict):
                _table_refs(v, f"{name}.{k}", out)


def _load_tables(run_dir: Path, history: list[dict], summary: dict, warnings: list[str]) -> dict[str, pd.DataFrame]:
    """DataFrames for wandb.Table values, keyed by the key they were logged under.

    A key logged several times maps to its last table (the summary's when it
    has one); a table nested in a logged dict is keyed ``"outer.inner"``.
    """
    refs: dict[str, str] = {}
    for row in history:
        for k, v in row.items():
            if isinstance(v, dict):
                _table_refs(v, k, refs)
    for k, v in summary.items():
        if isinstance(v, dict):
            _table_refs(v, k, refs)
    if not refs:
        return {}
    import pandas as pd

    tables: dict[str, pd.DataFrame] = {}
    files_dir = run_dir / "files"
    for name, rel in refs.items():
        path = files_dir / rel
        try:
            obj = json.loads(path.read_text())
        except FileNotFoundError:
            warnings.append(f"table {name!r}: {rel} is missing")
            continue
        except ValueError as e:
            warnings.append(f"table {name!r}: {rel} is not valid JSON ({e})")
            continue
        tables[name] = pd.DataFrame(obj.get("data") or [], columns=obj.get("columns"))
    return tables
