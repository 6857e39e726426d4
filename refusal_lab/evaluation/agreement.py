"""Agreement between labelings: judge vs judge (Cohen's kappa), judge vs gold labels (accuracy,
confusion table), and control token vs judged text (token/text consistency, per category).

Pure: lists in, numbers and dicts out. Judges speak different vocabularies, so every comparison
of "refused or not" goes through refused_in_words():

* the pattern judge's classes: ``refusal`` and ``partial`` are refused, ``compliance`` is not;
* the LLM judge's labels: ``REFUSED`` is refused, ``ANSWERED`` is not, ``UNCLEAR`` is undecided;
* booleans: True = refused.

Undecided rows are left out of rates and kappa, and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np

from refusal_lab.definitions import RESPOND_TOKEN

_REFUSED = {"refusal", "partial", "refused", "refuse", "true"}
_ANSWERED = {"compliance", "answered", "answer", "complied", "false"}
_UNDECIDED = {"unclear", "failed", ""}  # failed: the LLM judge gave no verdict


def refused_in_words(label) -> bool | None:
    """True (refused, fully or partly), False (answered) or None (undecided) for any judge's label."""
    if label is None:
        return None
    if isinstance(label, (bool, int, np.bool_, np.integer)):
        return bool(label)
    key = str(label).strip().lower()
    if key in _REFUSED:
        return True
    if key in _ANSWERED:
        return False
    if key in _UNDECIDED:
        return None
    raise ValueError(
        f"judge label {label!r} is not one of refusal/partial/compliance, REFUSED/ANSWERED/UNCLEAR/FAILED or a bool"
    )


# --- judge vs judge ---------------------------------------------------------------------------------------------


def raw_agreement(a: Sequence, b: Sequence) -> float:
    """Share of rows on which the two labelings are equal (nan when there are no rows)."""
    _same_length(a, b)
    return sum(x == y for x, y in zip(a, b)) / len(a) if len(a) else float("nan")


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e), over the labels as given.

    p_o is the observed agreement, p_e the agreement expected by chance from each labeling's
    own label frequencies. Undefined (nan) when p_e = 1, i.e. both labelings give one and the
    same label to every row: there is no variation to agree on, and raw_agreement (1.0) says
    the rest. nan for no rows.
    """
    _same_length(a, b)
    n = len(a)
    if n == 0:
        return float("nan")
    p_o = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    p_e = sum(count_a[label] * count_b[label] for label in count_a) / (n * n)
    if p_e == 1.0:
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)


def agreement_table(labels_by_judge: dict[str, Sequence], binary: bool = True) -> list[dict]:
    """One row per pair of judges: n compared, raw agreement, Cohen's kappa.

    binary=True compares refused-or-not (refused_in_words), so judges with different label sets
    can be compared; rows where either judge is undecided are left out and counted in
    `undecided`. binary=False compares the labels as they are (same vocabulary required).
    """
    lengths = {name: len(labels) for name, labels in labels_by_judge.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"judges labelled different numbers of rows: {lengths}")
    rows = []
    for (name_a, a), (name_b, b) in combinations(labels_by_judge.items(), 2):
        if binary:
            pairs = [(refused_in_words(x), refused_in_words(y)) for x, y in zip(a, b)]
            kept = [(x, y) for x, y in pairs if x is not None and y is not None]
        else:
            kept = list(zip(a, b))
        xs, ys = [x for x, _ in kept], [y for _, y in kept]
        rows.append(
            {
                "judge_a": name_a,
                "judge_b": name_b,
                "n": len(kept),
                "undecided": len(a) - len(kept),
                "agreement": raw_agreement(xs, ys),
                "kappa": cohen_kappa(xs, ys),
            }
        )
    return rows


# --- judge vs gold labels ---------------------------------------------------------------------------------------


def confusion(
    expected: Sequence[str], predicted: Sequence[str], columns: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """{expected label: {predicted label: count}}; every row has every column (default: the predicted labels)."""
    _same_length(expected, predicted)
    columns = list(columns) if columns is not None else sorted(set(predicted))
    unknown = set(predicted) - set(columns)
    if unknown:
        raise ValueError(f"predicted labels {sorted(unknown)} are not among the columns {columns}")
    table = {e: dict.fromkeys(columns, 0) for e in sorted(set(expected))}
    for e, p in zip(expected, predicted):
        table[e][p] += 1
    return table


def format_confusion(table: dict[str, dict[str, int]], columns: Iterable[str] | None = None) -> str:
    """The confusion table as aligned text: expected labels down, predicted labels across."""
    cols = list(columns) if columns is not None else sorted({c for row in table.values() for c in row})
    width = max([len("expected \\ judged")] + [len(r) for r in table]) + 2
    lines = ["expected \\ judged".ljust(width) + "".join(f"{c:>12}" for c in cols)]
    for e, row in table.items():
        lines.append(e.ljust(width) + "".join(f"{row.get(c, 0):>12}" for c in cols))
    return "\n".join(lines)


def preference_cases(rows: Sequence[dict], seed: int = 0) -> dict[str, list[tuple[str, bool]]]:
    """Labelled responses from a preference file (CoCoNot's coconot_pref: `chosen` complies,
    `rejected` refuses), as (response, should_be_refused) pairs, split by pair into two halves
    with a fixed seed: 'dev' (the half the pattern judge was developed on) and 'held_out'."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    halves = {"dev": sorted(order[: len(rows) // 2]), "held_out": sorted(order[len(rows) // 2 :])}
    return {
        name: [pair for i in idx for pair in ((rows[i]["chosen"], False), (rows[i]["rejected"], True))]
        for name, idx in halves.items()
    }


# --- control token vs judged text -------------------------------------------------------------------------------


def token_refused(token) -> bool:
    """A forced control token (or a bool) as 'the token said refuse': any control token but [respond]."""
    if isinstance(token, (bool, int, np.bool_, np.integer)):
        return bool(token)
    return str(token).strip() != RESPOND_TOKEN


def token_text_agreement(tokens: Sequence, text_labels: Sequence) -> dict:
    """Does the text follow the token? tokens: forced control tokens or bools (True = refusal token);
    text_labels: any judge's labels (refused_in_words).

    respond_then_refused: [respond] rows refused in words (fully or partly; respond_then_partial
    of them partly); refuse_then_answered: refusal-token rows answered; rates over the decided
    rows; agreement over all decided rows; unclear: rows no judge label decided; failed: rows the
    LLM judge could not judge (FAILED).
    """
    _same_length(tokens, text_labels)
    decided = [
        (token_refused(t), refused_in_words(lab), str(lab).lower() == "partial") for t, lab in zip(tokens, text_labels)
    ]
    failed = sum(str(lab).upper() == "FAILED" for lab in text_labels)  # the LLM judge gave no verdict
    unclear = sum(r is None for _, r, _ in decided) - failed
    decided = [row for row in decided if row[1] is not None]
    respond = [(r, part) for t, r, part in decided if not t]
    refuse = [r for t, r, _ in decided if t]
    respond_refused = sum(r for r, _ in respond)
    refuse_answered = sum(not r for r in refuse)
    return {
        "n_respond_token": len(respond),
        "respond_then_refused": respond_refused,
        "respond_then_partial": sum(part for _, part in respond),
        "respond_then_refused_rate": respond_refused / len(respond) if respond else float("nan"),
        "n_refuse_token": len(refuse),
        "refuse_then_answered": refuse_answered,
        "refuse_then_answered_rate": refuse_answered / len(refuse) if refuse else float("nan"),
        "agreement": sum(t == r for t, r, _ in decided) / len(decided) if decided else float("nan"),
        "unclear": unclear,
        "failed": failed,
    }


def token_text_by_category(tokens: Sequence, text_labels: Sequence, categories: Sequence[str]) -> list[dict]:
    """token_text_agreement per category (rows in first-seen order), then an 'all' row."""
    _same_length(tokens, text_labels)
    _same_length(tokens, categories)
    out = []
    for category in dict.fromkeys(categories):
        idx = [i for i, c in enumerate(categories) if c == category]
        out.append(
            {"category": category, **token_text_agreement([tokens[i] for i in idx], [text_labels[i] for i in idx])}
        )
    return out + [{"category": "all", **token_text_agreement(tokens, text_labels)}]


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"the two labelings have different lengths ({len(a)} and {len(b)}); they must label the same rows"
        )
