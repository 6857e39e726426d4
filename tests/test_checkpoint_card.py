"""A run's checkpoint outside refusal-lab: plain transformers generate / pipeline with the
generation config it ships, and the model card's tokens, ids and p(refuse) snippet."""

import re

import numpy as np
import pytest
import torch

from refusal_lab.config import ConfigError, RunConfig, validate
from refusal_lab.evaluation import metrics
from refusal_lab.evaluation.scoring import first_position_probs
from refusal_lab.model.card import BIAS, generation_prompt_tail, publish_checkpoint
from refusal_lab.model.chat import prompt_ids
from refusal_lab.model.tokens import add_control_tokens, resize_and_init
from tests.helpers import tiny

PROMPT = "How do I build a pipe bomb?"
MANIFEST = {"realised": {"refusal": 3, "general": 5}, "content_hash": "0123abcd" * 8}


@pytest.fixture(params=[True, False], ids=["tied", "untied"])
def checkpoint(request, tmp_path):
    """A model whose [refuse] row dominates every position: without help it loops on [refuse]."""
    torch.manual_seed(0)
    model, tok = tiny(tied=request.param)
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, "description")
    with torch.no_grad():
        h = model.model(input_ids=torch.tensor([prompt_ids(tok, PROMPT)])).last_hidden_state[0, -1]
        model.get_output_embeddings().weight[ids["[refuse]"]] = 8 * h / h.norm()
        model.get_input_embeddings().weight[ids["[refuse]"]] = 8 * h / h.norm()
    path = tmp_path / "checkpoint"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    publish_checkpoint(path, RunConfig(), tok, ids, MANIFEST, {"eval/auroc": 0.75, "eval/ece": 0.1})
    return path, ids


def plain_generate(path, shipped_config=True):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    if not shipped_config:
        model.generation_config.sequence_bias = None
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def test_plain_generate_starts_with_the_chosen_token_and_never_repeats_it(checkpoint):
    path, ids = checkpoint
    control = set(ids.values())
    looping = plain_generate(path, shipped_config=False)
    assert looping.count(ids["[refuse]"]) > 1, "without the shipped config this model repeats [refuse]"
    new = plain_generate(path)
    assert new[0] == ids["[refuse]"], "the first position keeps the model's own choice"
    assert not control & set(new[1:]), new


def test_pipeline_returns_the_text_after_the_token(checkpoint):
    from transformers import pipeline

    path, ids = checkpoint
    pipe = pipeline("text-generation", model=str(path), device="cpu")
    chat = [{"role": "user", "content": PROMPT}]
    reply = pipe(chat, max_new_tokens=12, do_sample=False)[0]["generated_text"][-1]
    want = pipe.tokenizer.decode(plain_generate(path), skip_special_tokens=True)
    assert reply["role"] == "assistant" and len(reply["content"]) >= 10 and reply["content"] == want
    pipe.model.generation_config.sequence_bias = None
    looping = pipe(chat, max_new_tokens=12, do_sample=False)[0]["generated_text"][-1]
    assert len(looping["content"]) < len(reply["content"]), (
        "without the shipped config the [refuse] loop decodes to nothing"
    )


def test_bias_cancels_exactly_at_the_first_response_position(checkpoint):
    from transformers import AutoTokenizer, GenerationConfig

    path, ids = checkpoint
    tok = AutoTokenizer.from_pretrained(path)
    bias = GenerationConfig.from_pretrained(path).sequence_bias
    tail = generation_prompt_tail(tok)
    assert prompt_ids(tok, "anything at all")[-len(tail) :] == tail and len(tail) >= 2
    assert sorted(map(tuple, (b[0] for b in bias))) == sorted(
        [(i,) for i in ids.values()] + [tuple(tail + [i]) for i in ids.values()]
    )
    assert np.float32(-BIAS) + np.float32(BIAS) == 0.0


def test_card_names_the_tokenizers_tokens_and_its_snippet_reads_p_refuse(checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, _ = checkpoint
    tok = AutoTokenizer.from_pretrained(path)
    card = (path / "README.md").read_text()
    table = dict(re.findall(r"^\| `(\[[^\]]+\])` \| (\d+) \|", card, flags=re.M))
    assert {t: int(i) for t, i in table.items()} == {t: tok.convert_tokens_to_ids(t) for t in ("[respond]", "[refuse]")}
    assert MANIFEST["content_hash"] in card and "tiny Llama" in card and "scheme `single`" in card
    snippet = re.search(r"```python\n(.*?)```", card, flags=re.S).group(1).replace("CHECKPOINT", str(path))
    scope: dict = {}
    exec(snippet, scope)  # the card's own code, as a user would paste it
    model = AutoModelForCausalLM.from_pretrained(path)
    want = first_position_probs(model, tok, [scope["prompt"]], [tok.convert_tokens_to_ids("[refuse]")])[0, 0]
    assert scope["p_refuse"] == pytest.approx(want, rel=1e-4)


def test_push_to_hub_needs_a_repository_id():
    from dataclasses import asdict

    raw = asdict(RunConfig())
    raw["train"].update(push_to_hub=True, hub_repo_id=None)
    with pytest.raises(ConfigError, match="train.hub_repo_id"):
        validate(raw)
    raw["train"].update(hub_repo_id="me/my-model")
    assert validate(raw).train.push_to_hub


@pytest.mark.unit
def test_expected_calibration_error():
    assert metrics.expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1]) == pytest.approx(0.1)
    assert metrics.expected_calibration_error([0.25] * 4, [1, 0, 0, 0]) == pytest.approx(0.0)
    assert metrics.expected_calibration_error([1.0, 1.0], [1, 0]) == pytest.approx(0.5)  # p=1 falls in the last bin
    assert metrics.expected_calibration_error([0.05, 0.95, 0.55], [0, 1, 0], bins=2) == pytest.approx(
        (1 / 3) * 0.05 + (2 / 3) * 0.25
    )
    assert np.isnan(metrics.expected_calibration_error([], []))
