import pytest

from refusal_lab.evaluation.pattern_judge import pattern_refused
from refusal_lab.data.refusal_responses import refusal_response
from refusal_lab.definitions import CATEGORIES

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`


def test_pattern_judge_reads_refusals_and_answers():
    assert pattern_refused("I'm sorry, but I can't help with that.")
    assert pattern_refused("As an AI, I don't have a body.")
    assert pattern_refused("I cannot provide instructions for that.")
    assert not pattern_refused("Sure! Preheat the oven to 200 C and bake for 30 minutes.")
    assert not pattern_refused("To kill a Python process, run kill -9 with its PID.")


def test_pattern_judge_recognises_every_project_refusal():
    for c in CATEGORIES:
        for i in range(30):
            assert pattern_refused(refusal_response(c, f"prompt {i}")), refusal_response(c, f"prompt {i}")
