import json

import pytest

from refusal_lab.config import DataConfig
from refusal_lab.data.dedup import duplicate_groups, jaccard, shingles
from refusal_lab.definitions import CATEGORIES
from refusal_lab.data.loaders import DataError, load
from refusal_lab.data.records import Example
from refusal_lab.data.splitting import split_pool

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`


def ex(prompt, source="general"):
    return Example(prompt, "r", source, CATEGORIES[0] if source != "general" else None, "", source == "refusal", "t")


def test_near_duplicate_groups_are_exact_jaccard():
    texts = [
        "How do I bake sourdough bread at home today?",
        "how do I bake sourdough bread at home today!!",
        "How do I bake sourdough bread at home today please?",
        "What is the tallest mountain on Earth?",
    ]
    g = duplicate_groups(texts, 0.8)
    assert g[0] == g[1] == g[2] != g[3]
    assert jaccard(shingles(texts[0]), shingles(texts[2])) >= 0.8


def test_minhash_finds_all_pairs_above_threshold():
    import itertools
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(150)]
    texts += [t.rsplit(" ", 1)[0] + " extra" for t in texts[:50]]  # near copies
    groups = duplicate_groups(texts, 0.7)
    for i, j in itertools.combinations(range(len(texts)), 2):
        if jaccard(shingles(texts[i]), shingles(texts[j])) >= 0.7:
            assert groups[i] == groups[j], (texts[i], texts[j])


def test_split_keeps_near_duplicates_on_one_side_and_drops_exact_copies():
    rows = [ex(f"Tell me a fact about topic number {i} in the world of science") for i in range(60)]
    rows += [
        ex(f"tell me a fact about topic number {i} in the world of science!") for i in range(10)
    ]  # exact after normalising
    rows += [ex(f"Tell me a fact about topic number {i} in the world of science please") for i in range(10, 20)]  # near
    for ordered in (rows, list(reversed(rows))):  # whichever copy comes first is kept
        train, evals, report = split_pool(ordered, 15, seed=3, threshold=0.8)
        assert report["exact_duplicates_dropped"] == 10
        assert len(train) + len(evals) == 70 and len(evals) >= 15
        train_sh = [shingles(r.prompt) for r in train]
        for e in evals:
            assert all(jaccard(shingles(e.prompt), t) < 0.8 for t in train_sh)


def test_split_is_seeded():
    rows = [ex(f"Question {i}: what is {i} times {i + 7} exactly?") for i in range(100)]
    a, b = split_pool(rows, 20, 0, 0.8)[1], split_pool(rows, 20, 0, 0.8)[1]
    c = split_pool(rows, 20, 1, 0.8)[1]
    assert [r.id for r in a] == [r.id for r in b] != [r.id for r in c]


def test_builtin_data_loads_with_origin_columns():
    data = load(DataConfig())
    assert set(data.train) == {"refusal", "contrast", "general"}
    rows = [r for pool in data.train.values() for r in pool] + data.eval
    assert all(r.origin == "builtin" and r.response for r in rows)
    assert {r.category for r in data.train["refusal"]} == set(CATEGORIES)
    assert {r.category for r in data.eval if r.should_refuse} == set(CATEGORIES)
    assert data.report["eval_sizes"]["general"] == DataConfig().eval_general_count
    train_prompts = {r.prompt for pool in data.train.values() for r in pool}
    assert not train_prompts & {r.prompt for r in data.eval}


def test_coconot_local_files(shared_data):
    cfg = DataConfig(
        refusal_source="coconot_local",
        contrast_source="coconot_local",
        general_source="jsonl",
        coconot_path=str(shared_data / "coconot"),
        general_path=str(shared_data / "alpaca_libre"),
    )
    data = load(cfg)
    rep = data.report
    assert rep["refusal"]["train"] + rep["refusal"]["eval"] + rep["refusal"]["exact_duplicates_dropped"] == 1001
    assert rep["eval_sizes"]["contrast"] == 379
    assert rep["general"]["unparsable_lines"] > 0  # alpaca v2 has broken lines: counted, not fatal
    assert all(r.response for r in data.train["refusal"])  # empty CoCoNot responses were written per category
    assert {r.category for r in data.train["refusal"]} == set(CATEGORIES)
    pref_ids = {json.loads(line)["id"] for line in open(shared_data / "coconot" / "coconot_pref.jsonl")}
    assert {r.id for r in data.train["contrast"]} <= pref_ids
    assert all(not r.should_refuse for r in data.train["contrast"] + data.train["general"])


def test_missing_path_names_key_and_fix(tmp_path):
    with pytest.raises(DataError, match=r"data.coconot_path=.*does not exist; set data.coconot_path"):
        load(
            DataConfig(
                refusal_source="coconot_local",
                contrast_source="none",
                general_source="none",
                coconot_path=str(tmp_path / "nope"),
            )
        )


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0, 1.3])
def test_default_mix_fits_the_builtin_pools_across_contrast_ratios(compose, ratio):
    from refusal_lab.config import validate
    from refusal_lab.data.mixing import mix

    cfg = validate(compose([f"mix.contrast_ratio={ratio}"]))
    m = mix(load(cfg.data).train, cfg.mix)
    assert m.manifest["requested"] == m.manifest["realised"] and len(m.examples) == cfg.mix.total
