"""train.cached_states: the rows fitted on cached first-position states equal the loop's,
and the states cache is reused and invalidated by model and data."""

import copy
import dataclasses

import pytest
import torch

from refusal_lab.config import TokensConfig, TrainConfig
from refusal_lab.data.records import Example
from refusal_lab.model.chat import encode_example
from refusal_lab.model.tokens import add_control_tokens, install_control_tokens, resize_and_init
from refusal_lab.training.cached_rows import cached_states, train_cached_rows
from refusal_lab.training.loop import prepare_trainable, train
from tests.helpers import examples, tiny


def setup(tied, scheme="single", **train_kw):
    torch.manual_seed(0)
    model, tok = tiny(tied=tied)
    ids = add_control_tokens(tok, scheme)
    resize_and_init(model, tok, ids, "description")
    cfg = TrainConfig(
        **{
            "trainable": "control_tokens",
            "epochs": 6,
            "batch_size": 3,
            "grad_accum": 2,
            "lr": 5e-2,
            "warmup_ratio": 0.2,
            "threads": 1,
            **train_kw,
        }
    )
    rows = examples() * 3
    enc = [encode_example(tok, e, scheme, "completion", 64, True) for e in rows]
    return model, tok, list(ids.values()), cfg, enc


def token_rows(model, new_ids):
    mats = {"embed": model.get_input_embeddings().weight, "head": model.get_output_embeddings().weight}
    return {k: w.detach()[new_ids].clone() for k, w in mats.items()}


@pytest.mark.parametrize(
    "tied,scheme,packing,new_rows_lr",
    [
        (False, "single", False, None),
        (True, "single", True, None),
        (False, "category", True, 0.2),
        (True, "category", False, 0.2),
    ],
)
def test_cached_rows_equal_the_loops_rows(tied, scheme, packing, new_rows_lr):
    model, tok, new_ids, cfg, enc = setup(tied, scheme, packing=packing, new_rows_lr=new_rows_lr)
    before = token_rows(model, new_ids)
    looped = copy.deepcopy(model)
    loop_result = train(prepare_trainable(looped, cfg, new_ids), enc, tok.pad_token_id, cfg, new_ids, progress=False)
    cached_result = train_cached_rows(model, enc, tok.pad_token_id, cfg, new_ids)
    want, got = token_rows(looped, new_ids), token_rows(model, new_ids)
    assert not torch.allclose(want["head"], before["head"], atol=1e-3), "the loop moved the head rows"
    for k in ("embed", "head"):
        torch.testing.assert_close(got[k], want[k], atol=2e-5, rtol=1e-4)
    if not tied:
        torch.testing.assert_close(got["embed"], before["embed"])  # untied input rows never get a gradient
    assert cached_result.steps == loop_result.steps == 12
    assert cached_result.losses == pytest.approx(loop_result.losses, rel=1e-4, abs=1e-5)


def test_dispatch_through_train_uses_the_cache(tmp_path):
    model, tok, new_ids, cfg, enc = setup(False, cached_states=True, states_cache_dir=str(tmp_path / "states"))
    looped = copy.deepcopy(model)
    train(
        prepare_trainable(looped, cfg, new_ids),
        enc,
        tok.pad_token_id,
        dataclasses.replace(cfg, cached_states=False),
        new_ids,
        progress=False,
    )
    result = train(prepare_trainable(model, cfg, new_ids), enc, tok.pad_token_id, cfg, new_ids, progress=False)
    torch.testing.assert_close(
        token_rows(model, new_ids)["head"], token_rows(looped, new_ids)["head"], atol=2e-5, rtol=1e-4
    )
    assert len(list((tmp_path / "states").glob("*.pt"))) == 1 and result.real_tokens > 0


def test_states_cache_is_reused_and_invalidated_by_model_and_data(tmp_path):
    model, tok, new_ids, cfg, enc = setup(True)
    prompts = [e.input_ids[: e.prompt_len] for e in enc]
    args = (tok.pad_token_id, new_ids, tmp_path, 4, torch.device("cpu"))
    first = cached_states(model, prompts, *args)
    assert not first.cache_hit and first.prompt_tokens == sum(map(len, prompts))
    again = cached_states(model, prompts, *args)
    assert again.cache_hit and again.prompt_tokens == 0
    assert torch.equal(again.hidden, first.hidden) and torch.equal(again.frozen_lse, first.frozen_lse)
    with torch.no_grad():  # the control rows are what training changes: the states do not depend on them
        model.get_input_embeddings().weight[new_ids] += 1.0
    assert cached_states(model, prompts, *args).cache_hit
    other = Example("Tell me a joke about cats.", "Why did the cat ...", "general", None, "", False, "t")
    extra = encode_example(tok, other, "single", "completion", 64, True)
    more = prompts + [extra.input_ids[: extra.prompt_len]]
    assert not cached_states(model, more, *args).cache_hit, "other data: new key"
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] += 0.5
    changed = cached_states(model, prompts, *args)
    assert not changed.cache_hit, "another model: new key"
    assert not torch.allclose(changed.hidden, first.hidden)
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_cached_states_are_the_models_own_first_position_logits():
    model, tok, new_ids, cfg, enc = setup(False)
    prompts = [e.input_ids[: e.prompt_len] for e in enc[:4]]
    states = cached_states(model, prompts, tok.pad_token_id, new_ids, None, 2, torch.device("cpu"))
    head = model.get_output_embeddings().weight.detach()
    with torch.no_grad():
        for i, p in enumerate(prompts):
            logits = model(input_ids=torch.tensor([p])).logits[0, -1]
            full = torch.log_softmax(logits, -1)
            mine = states.hidden[i] @ head.T
            frozen = torch.ones(len(head), dtype=torch.bool)
            frozen[new_ids] = False
            torch.testing.assert_close(states.frozen_lse[i], torch.logsumexp(logits[frozen], -1), atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(mine - torch.logsumexp(mine, -1), full, atol=1e-4, rtol=1e-5)


def test_separate_input_rows_leave_the_forced_tokens_input_at_init_through_save_and_load(tmp_path):
    """tokens.separate_input_rows on a tied model: only the head rows learn, so what the network
    reads after a forced control token stays the description init (no stray word after it)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model, tok = tiny(tied=True)
    ids = install_control_tokens(model, tok, TokensConfig(scheme="single", separate_input_rows=True))
    new_ids = list(ids.values())
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert head is not emb and model.config.tie_word_embeddings is False
    old_rows = slice(0, min(new_ids))
    assert torch.equal(head[old_rows], emb[old_rows])  # the vocabulary the model had is untouched
    for token, lead in (("[respond]", "Sure"), ("[refuse]", "Sorry")):  # input rows: a word the model knows
        (lead_id,) = tok.encode(lead, add_special_tokens=False)[:1]
        assert torch.equal(emb[ids[token]], emb[lead_id]) and not torch.equal(head[ids[token]], emb[lead_id])
    before = token_rows(model, new_ids)
    cfg = TrainConfig(trainable="control_tokens", epochs=4, batch_size=3, lr=5e-2, threads=1)
    enc = [encode_example(tok, e, "single", "completion", 64, True) for e in examples() * 3]
    train(prepare_trainable(model, cfg, new_ids), enc, tok.pad_token_id, cfg, new_ids, progress=False)
    after = token_rows(model, new_ids)
    assert not torch.allclose(after["head"], before["head"], atol=1e-3)
    torch.testing.assert_close(after["embed"], before["embed"])
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.get_output_embeddings().weight is not loaded.get_input_embeddings().weight
    for k, rows in token_rows(loaded, new_ids).items():
        torch.testing.assert_close(rows, after[k])
    x = torch.tensor([[1, 2, 3, new_ids[1], 4]])
    torch.testing.assert_close(loaded(x).logits, model(x).logits)
