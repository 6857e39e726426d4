"""lm-evaluation-harness through the chat template with the control token crossed (optional extra)."""

import json

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="optional extra: pip install -e '.[lmeval]'")

from refusal_lab.commands import lm_eval as lm_eval_cmd  # noqa: E402
from refusal_lab.evaluation import lm_eval_harness  # noqa: E402
from refusal_lab.model.chat import prompt_ids  # noqa: E402
from refusal_lab.model.tokens import add_control_tokens, resize_and_init  # noqa: E402
from tests.helpers import tiny  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model, tok = tiny()
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, "mean", {})
    path = tmp_path_factory.mktemp("lmeval") / "checkpoint"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model, tok


def test_context_ends_with_the_control_token_after_the_generation_prompt(checkpoint):
    _, model, tok = checkpoint
    lm = lm_eval_harness.control_token_lm(model, tok, "[respond]")
    text = lm.apply_chat_template([{"role": "user", "content": "What is two plus two?"}])
    assert tok(text, add_special_tokens=False)["input_ids"] == prompt_ids(tok, "What is two plus two?") + [
        tok.convert_tokens_to_ids("[respond]")
    ]
    plain = lm_eval_harness.control_token_lm(model, tok, "")
    assert (
        plain.apply_chat_template([{"role": "user", "content": "x"}])
        == text.replace("What is two plus two?", "x")[: -len("[respond]")]
    )


@pytest.mark.slow
def test_local_task_runs_offline_on_a_checkpoint(checkpoint, tmp_path, monkeypatch):
    path, _, _ = checkpoint
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert lm_eval_cmd.main([str(path), "--out", str(tmp_path / "out")]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    acc = res["results"][lm_eval_harness.LOCAL_TASK]["acc,none"]
    assert 0.0 <= acc <= 1.0 and res["first_token"] == "[respond]"
    assert lm_eval_cmd.main([str(path), "--first-token", "[nope]", "--out", str(tmp_path / "x")]) == 2
