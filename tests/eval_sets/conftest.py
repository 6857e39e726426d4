import pytest


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """datasets writes its Arrow cache under tmp_path; no network is ever needed."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
