"""Every eval-set preset loads a fixture in its exact schema through the real datasets path
and maps its labels; suites name real presets."""

import pytest

from refusal_lab.evaluation import suite
from tests.eval_sets.fixtures import FIXTURES, write_fixture


def test_every_preset_has_a_fixture():
    assert set(suite.preset_names()) == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_preset_loads_its_fixture_and_maps_labels(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "fixture-token")  # gated presets: a token is present (never used: local files)
    path = write_fixture(name, tmp_path)
    cfg = suite.resolve_set(name, {"data_files": str(path)})
    assert cfg.name == name and cfg.dataset.path and cfg.licence and cfg.title
    assert cfg.revision_verified or cfg.dataset.revision == "main"  # unverified pins say so
    loaded = suite.load_set(cfg)
    _, rows, expected = FIXTURES[name]
    assert [r.should_refuse for r in loaded.rows] == expected
    assert all(r.prompt and r.origin == name for r in loaded.rows)
    assert all(r.source == ("refusal" if r.should_refuse else "contrast") for r in loaded.rows)
    if cfg.dataset.category_field:
        assert all(r.category == str(row[cfg.dataset.category_field]) for r, row in zip(loaded.rows, rows))


def test_suites_name_existing_presets():
    for name in suite.suite_names():
        assert set(suite.suite_sets(name, [])) <= set(suite.preset_names()), name
    assert suite.suite_sets("coconot", []) == ["coconot_original", "coconot_contrast"]
    assert len(suite.suite_sets("refusal14", [])) == 11


def test_real_coconot_files_through_the_suite_path(shared_data):
    loaded = suite.load_suite(suite.suite_sets("coconot", []))
    sizes = {s.cfg.name: len(s.rows) for s in loaded}
    assert sizes == {"coconot_original": 1001, "coconot_contrast": 379}
    original = loaded[0].rows
    assert all(r.should_refuse for r in original) and not any(r.should_refuse for r in loaded[1].rows)
    assert len({r.category for r in original}) == 5
