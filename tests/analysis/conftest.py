"""A real tiny sweep (Hydra multirun through the real CLI, real offline W&B), once per session,
and a W&B API client answering from those same runs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SWEEP_GROUP = "analysis-fixture"  # the sweep dir's name: the sweep-group callback makes it the W&B group
# 2 contrast ratios x 2 token schemes x 2 seeds, each a few seconds of training on the tiny model.
SWEEP_OVERRIDES = [
    "mix.contrast_ratio=0,0.5",
    "tokens=single,category",
    "seed=0,1",
    "debug=fast",
    "train.max_steps=20",
    "eval.max_prompts=60",  # debug=fast: batch 4, 120 rows, no checkpoint
    "logger=wandb_offline",
]  # conf/config.yaml's sweep_group callback makes the sweep dir's name the group


HYDRA_MULTIRUN = (
    "import sys; from refusal_lab.commands.train import hydra_train; "
    "sys.argv = ['refusal-lab train', *sys.argv[1:]]; hydra_train()"
)


def wandb_env_vars(base: Path) -> dict:
    return {
        var: str(base / var.lower())
        for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR")
    }


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    """outputs of `refusal-lab -m <SWEEP_OVERRIDES>`: <sweep>/multirun.yaml and <sweep>/<i>/ run dirs."""
    base = tmp_path_factory.mktemp("tiny_sweep")
    sweep = base / SWEEP_GROUP
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("WANDB_RUN_GROUP", "REFUSAL_LAB_SWEEP_ID")},
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "OMP_NUM_THREADS": "1",
        **wandb_env_vars(base / "wandb_env"),
    }
    # Hydra's own multirun (refusal-lab -m now dispatches through refusal_lab.experiments.sweeps, which writes
    # a sweep_manifest.json): this is the layout analyze must read without a manifest.
    # Hydra's basic launcher (the task function in this process, logger.group left null), and no manifest.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            HYDRA_MULTIRUN,
            "-m",
            "hydra/launcher=basic",
            f"hydra.sweep.dir={sweep}",
            *SWEEP_OVERRIDES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep / "sweep_manifest.json").unlink()
    assert len(list(sweep.glob("*/summary.json"))) == 8
    return sweep


@pytest.fixture
def sweep_copy(tiny_sweep, tmp_path) -> Path:
    """A private copy of the sweep that a test may add to (manifests, failed runs, reports)."""
    dst = tmp_path / "sweep"
    shutil.copytree(tiny_sweep, dst, symlinks=True)
    return dst


@pytest.fixture
def wandb_tmp_env(tmp_path, monkeypatch):
    """W&B offline in this process with every directory under tmp_path; torn down after."""
    for var, value in wandb_env_vars(tmp_path / "wandb_env").items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield
    import wandb

    wandb.teardown()


# ----------------------------------------------------------------------------- W&B API client from real runs


class RecordedRun:
    """What wandb.apis.public.Run exposes to the analysis, answered from a real offline run."""

    def __init__(self, offline, heartbeat_at: str, client):
        self.id = offline.id
        self.name = offline.name
        self.group = offline.group
        self.tags = list(offline.tags)
        self.job_type = offline.job_type
        self.state = offline.state
        self.heartbeat_at = heartbeat_at
        self._offline = offline
        self._client = client

    @property
    def config(self):
        self._client.heavy_loads += 1  # the real client fetches config/summary per run (lazy listing)
        return dict(self._offline.config)

    @property
    def summary_metrics(self):
        self._client.heavy_loads += 1
        return dict(self._offline.summary)

    def file(self, name):
        return RecordedFile(self._offline.run_dir / "files" / name, name, self._client)


class RecordedFile:
    def __init__(self, source: Path, name: str, client):
        self._source, self.name, self._client = source, name, client

    def download(self, root=".", replace=False, exist_ok=False, api=None):
        if self._client.offline:
            raise ConnectionError("client is offline: nothing may be downloaded")
        dst = Path(root) / self.name
        if dst.exists() and not replace:
            raise ValueError(f"{dst} exists")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._source, dst)
        self._client.downloads += 1
        return open(dst)


class RecordedApi:
    """`wandb.Api()` stand-in built from real offline runs: runs() pages through them and
    applies the MongoDB-style filters the analysis sends (equality, $in, $and)."""

    def __init__(self, offline_runs, project_path="team/refusal-lab", heartbeat_at="2026-01-01T00:00:00"):
        self.project_path = project_path
        self.runs_by_id = {r.id: RecordedRun(r, heartbeat_at, self) for r in offline_runs}
        self.calls: list[dict] = []
        self.pages = 0
        self.downloads = 0
        self.heavy_loads = 0
        self.offline = False

    def runs(self, path=None, filters=None, order="+created_at", per_page=50, **kw):
        assert path == self.project_path, path
        self.calls.append({"path": path, "filters": filters, "order": order, "per_page": per_page})
        matching = [r for r in self.runs_by_id.values() if _matches(r, filters or {})]
        for start in range(0, len(matching), per_page):
            self.pages += 1
            yield from matching[start : start + per_page]


def _lookup(run, key):
    if key.startswith("config."):
        v = run._offline.config
        for part in key.split(".")[1:]:
            v = v.get(part) if isinstance(v, dict) else None
        return v
    return {"group": run.group, "tags": run.tags, "state": run.state, "jobType": run.job_type}[key]


def _matches(run, flt: dict) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            if not all(_matches(run, c) for c in cond):
                return False
            continue
        value = _lookup(run, key)
        if isinstance(cond, dict) and "$in" in cond:
            have = value if isinstance(value, list) else [value]
            if not set(have) & set(cond["$in"]):
                return False
        elif value != cond:
            return False
    return True
