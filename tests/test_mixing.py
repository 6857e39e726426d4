import dataclasses

import pytest

from refusal_lab.config import MixConfig
from refusal_lab.definitions import CATEGORIES, CATEGORY_SLUGS
from refusal_lab.data.mixing import MixError, largest_remainder, mix
from refusal_lab.data.records import Example

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`


def pools(n_per_cat=80, n_con=100, n_gen=400):
    ref = [Example(f"refuse {c} {i}", "no", "refusal", c, "", True, "t") for c in CATEGORIES for i in range(n_per_cat)]
    con = [Example(f"contrast {i}", "yes", "contrast", CATEGORIES[4], "", False, "t") for i in range(n_con)]
    gen = [Example(f"general {i}", "yes", "general", None, "", False, "t") for i in range(n_gen)]
    return {"refusal": ref, "contrast": con, "general": gen}


def settings(**kw):
    base = dict(total=300, refusal_fraction=0.3, contrast_ratio=0.5, seed=0)
    base.update(kw)
    return MixConfig(**base)


def count(examples, source):
    return sum(e.source == source for e in examples)


@pytest.mark.parametrize(
    "total,f,r", [(300, 0.3, 0.5), (101, 0.25, 0.1), (50, 0.0, 0.0), (200, 0.5, 1.0), (77, 0.33, 0.3)]
)
def test_counts_follow_the_settings(total, f, r):
    m = mix(pools(), settings(total=total, refusal_fraction=f, contrast_ratio=r))
    n_ref = round(f * total)
    assert len(m.examples) == total == m.manifest["total_realised"]
    assert count(m.examples, "refusal") == n_ref
    assert count(m.examples, "contrast") == round(r * n_ref)
    assert m.manifest["requested"] == m.manifest["realised"]


def test_general_count_mode_solves_total():
    m = mix(pools(), settings(total=None, general_count=200, refusal_fraction=0.2, contrast_ratio=0.5))
    n_ref, n_con, n_gen = (count(m.examples, s) for s in ("refusal", "contrast", "general"))
    assert n_gen == 200
    assert abs(n_ref / len(m.examples) - 0.2) < 0.01
    assert n_con == round(0.5 * n_ref)


def test_category_weights_split_refusals():
    m = mix(pools(), settings(total=200, refusal_fraction=0.5, category_weights={"safety": 3, "humanizing": 1}))
    real = m.manifest["realised"]
    assert real["refusal/safety"] == 75 and real["refusal/humanizing"] == 25
    assert real["refusal/incomplete"] == 0


def test_natural_weights_follow_pool():
    p = pools()
    p["refusal"] = [e for e in p["refusal"] if e.category != CATEGORIES[0]]
    m = mix(p, settings(total=200, refusal_fraction=0.4))
    assert m.manifest["realised"]["refusal/incomplete"] == 0
    assert sum(v for k, v in m.manifest["realised"].items() if k.startswith("refusal/")) == 80


def test_deterministic_and_order_independent():
    p = pools()
    a = mix(p, settings())
    b = mix({k: list(reversed(v)) for k, v in p.items()}, settings())
    assert [e.id for e in a.examples] == [e.id for e in b.examples]
    assert a.manifest == b.manifest


def test_no_row_twice_without_oversampling():
    m = mix(pools(), settings(total=400, refusal_fraction=0.4, contrast_ratio=0.5))
    assert len({e.id for e in m.examples}) == len(m.examples)


def test_hash_changes_when_anything_changes():
    base = mix(pools(), settings()).manifest["content_hash"]
    assert mix(pools(), settings(seed=1)).manifest["content_hash"] != base
    assert mix(pools(), settings(contrast_ratio=0.6)).manifest["content_hash"] != base
    p = pools()
    p["general"][0] = dataclasses.replace(p["general"][0], response="changed")
    assert (
        mix(p, settings(total=400, refusal_fraction=0.1)).manifest["content_hash"]
        != mix(pools(), settings(total=400, refusal_fraction=0.1)).manifest["content_hash"]
    )


def test_shortfall_modes():
    small = pools(n_con=10)
    with pytest.raises(MixError, match=r"contrast needs 45 rows but its pool has 10.*mix.on_shortfall=oversample"):
        mix(small, settings())
    capped = mix(small, settings(on_shortfall="cap"))
    assert capped.manifest["requested"]["contrast"] == 45 and capped.manifest["realised"]["contrast"] == 10
    over = mix(small, settings(on_shortfall="oversample"))
    assert over.manifest["realised"]["contrast"] == 45 and over.manifest["oversampled"] == {"contrast": 35}
    assert len({e.id for e in over.examples if e.source == "contrast"}) == 10


def test_largest_remainder_sums_exactly():
    for total in range(0, 50):
        counts = largest_remainder(total, {"a": 1.0, "b": 1.0, "c": 1.0})
        assert sum(counts.values()) == total and max(counts.values()) - min(counts.values()) <= 1


def test_manifest_keys_name_every_category():
    m = mix(pools(), settings())
    assert {f"refusal/{s}" for s in CATEGORY_SLUGS.values()} | {"contrast", "general"} == set(m.manifest["requested"])
