import math

import pytest

from refusal_lab.evaluation import agreement

pytestmark = pytest.mark.unit

R, A = "REFUSED", "ANSWERED"


def test_kappa_matches_a_hand_computation():
    a = [R, R, R, A, A, A, R, A, R, R]  # 6 R, 4 A
    b = [R, R, A, A, A, R, R, A, R, A]  # 5 R, 5 A
    # observed: equal at 0,1,3,4,6,7,8 -> p_o = 7/10; chance: 0.6*0.5 + 0.4*0.5 = 0.5; kappa = (0.7-0.5)/(1-0.5)
    assert agreement.raw_agreement(a, b) == pytest.approx(0.7)
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.4)
    assert agreement.cohen_kappa(a, a) == pytest.approx(1.0)
    assert agreement.cohen_kappa([R, A], [A, R]) == pytest.approx(-1.0)  # p_o 0, p_e 0.5
    assert agreement.cohen_kappa([R] * 4, [R, R, A, A]) == pytest.approx(0.0)  # p_o 0.5 = p_e


def test_kappa_agrees_with_scikit_learn_on_three_classes():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    a = ["refusal", "partial", "compliance", "compliance", "refusal", "partial", "compliance", "refusal", "compliance"]
    b = [
        "refusal",
        "compliance",
        "compliance",
        "partial",
        "refusal",
        "partial",
        "compliance",
        "compliance",
        "compliance",
    ]
    assert agreement.cohen_kappa(a, b) == pytest.approx(sklearn_metrics.cohen_kappa_score(a, b))


def test_kappa_degenerate_cases():
    # Both judges give one and the same label to every row: chance agreement is 1, kappa is undefined.
    assert math.isnan(agreement.cohen_kappa([R] * 5, [R] * 5))
    assert agreement.raw_agreement([R] * 5, [R] * 5) == 1.0
    assert math.isnan(agreement.cohen_kappa([], []))
    with pytest.raises(ValueError, match="different lengths"):
        agreement.cohen_kappa([R], [R, A])


def test_agreement_table_compares_judges_with_different_vocabularies():
    labels = {
        "pattern": ["refusal", "partial", "compliance", "compliance", "refusal"],
        "llm": [R, R, A, "UNCLEAR", A],
        "gold": [True, True, False, False, True],
    }
    rows = {(r["judge_a"], r["judge_b"]): r for r in agreement.agreement_table(labels)}
    assert set(rows) == {("pattern", "llm"), ("pattern", "gold"), ("llm", "gold")}
    assert rows["pattern", "gold"]["agreement"] == 1.0 and rows["pattern", "gold"]["kappa"] == pytest.approx(1.0)
    pl = rows["pattern", "llm"]  # UNCLEAR row left out; 3 of the 4 decided rows agree
    assert (pl["n"], pl["undecided"]) == (4, 1) and pl["agreement"] == pytest.approx(0.75)
    # refused/answered: pattern [T,T,F,T], llm [T,T,F,F]: p_o .75, p_e .75*.5 + .25*.5 = .5
    assert pl["kappa"] == pytest.approx(0.5)
    strict = agreement.agreement_table({"x": ["refusal", "partial"], "y": ["refusal", "refusal"]}, binary=False)
    assert strict[0]["agreement"] == 0.5
    with pytest.raises(ValueError, match="different numbers of rows"):
        agreement.agreement_table({"x": [R], "y": [R, A]})
    with pytest.raises(ValueError, match="'maybe' is not one of"):
        agreement.agreement_table({"x": ["maybe"], "y": [R]})


def test_confusion_table_and_its_text():
    table = agreement.confusion(["refused", "refused", "complied"], ["refusal", "compliance", "compliance"])
    assert table == {"complied": {"compliance": 1, "refusal": 0}, "refused": {"compliance": 1, "refusal": 1}}
    text = agreement.format_confusion(table, ["refusal", "partial", "compliance"])
    assert text.splitlines()[2].split() == ["refused", "1", "0", "1"]


def test_preference_cases_split_by_pair_with_a_fixed_seed():
    rows = [{"chosen": f"answer {i}", "rejected": f"refusal {i}"} for i in range(11)]
    halves = agreement.preference_cases(rows, seed=0)
    assert halves == agreement.preference_cases(rows, seed=0)
    assert len(halves["dev"]) == 10 and len(halves["held_out"]) == 12
    texts = [t for half in halves.values() for t, _ in half]
    assert sorted(texts) == sorted([r["chosen"] for r in rows] + [r["rejected"] for r in rows])
    for half in halves.values():  # both responses of a pair land in the same half, labelled
        for text, refused in half:
            assert refused == text.startswith("refusal")
            assert (text.replace("answer", "refusal") if not refused else text.replace("refusal", "answer")) in [
                t for t, _ in half
            ]
    assert halves != agreement.preference_cases(rows, seed=1)


def test_token_text_agreement_counts():
    a = agreement.token_text_agreement([False, False, False, True, True, True], [R, A, A, A, R, "UNCLEAR"])
    assert (a["respond_then_refused"], a["n_respond_token"]) == (1, 3) and a[
        "respond_then_refused_rate"
    ] == pytest.approx(1 / 3)
    assert (
        (a["refuse_then_answered"], a["n_refuse_token"]) == (1, 2)
        and a["agreement"] == pytest.approx(3 / 5)
        and a["unclear"] == 1
    )
    assert agreement.token_text_agreement([True, False], [True, False])["agreement"] == 1.0


def test_token_text_consistency_per_category_with_tokens_and_pattern_classes():
    tokens = ["[respond]", "[respond]", "[respond]", "[refuse]", "[respond]", "[Humanizing requests]", "[refuse]"]
    texts = ["partial", "compliance", "refusal", "compliance", "compliance", "refusal", "refusal"]
    cats = ["safety", "safety", "safety", "safety", "humanizing", "humanizing", "humanizing"]
    by = {r["category"]: r for r in agreement.token_text_by_category(tokens, texts, cats)}
    assert list(by) == ["safety", "humanizing", "all"]
    s = by["safety"]
    assert (s["n_respond_token"], s["respond_then_refused"], s["respond_then_partial"]) == (3, 2, 1)
    assert s["respond_then_refused_rate"] == pytest.approx(2 / 3)
    assert (s["n_refuse_token"], s["refuse_then_answered"], s["refuse_then_answered_rate"]) == (1, 1, 1.0)
    h = by["humanizing"]  # a category token counts as a refusal token
    assert (h["n_respond_token"], h["respond_then_refused"], h["n_refuse_token"], h["refuse_then_answered"]) == (
        1,
        0,
        2,
        0,
    )
    assert h["agreement"] == 1.0
    assert (
        by["all"]["n_respond_token"] == 4
        and by["all"]["respond_then_refused"] == 2
        and by["all"]["refuse_then_answered"] == 1
    )
    assert math.isnan(agreement.token_text_agreement(["[refuse]"], ["refusal"])["respond_then_refused_rate"])
