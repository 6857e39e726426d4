"""Padding-free packing: packed rows give the same logits and the same loss as running
each example alone, labels never cross examples, and training is unchanged by it."""

import numpy as np
import pytest
import torch

from refusal_lab.model.chat import IGNORE, encode_example
from refusal_lab.config import TrainConfig
from refusal_lab.data.records import Example
from refusal_lab.model.tokens import add_control_tokens, resize_and_init
from refusal_lab.training.loop import train
from refusal_lab.training.steps import collate, micro_loss, pack, packing_matches_padding
from tests.helpers import examples, tiny


def _setup(attn="sdpa", tied=False, loss_on="completion"):
    torch.manual_seed(0)
    model, tok = tiny(tied=tied)
    model.config._attn_implementation = attn
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, "description")
    rows = examples() + [Example("Tell me a long story " * 3, "Once upon a time " * 4, "general", None, "", False, "t")]
    enc = [encode_example(tok, e, "single", loss_on, 96) for e in rows]
    return model.eval(), tok, ids, enc


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("tied", [False, True])
def test_packed_logits_equal_per_example_logits(attn, tied):
    model, tok, _, enc = _setup(attn, tied)
    for row_tokens in (None, 80):  # one flattened row (flash-attention layout) and several rows with a pad tail
        batch = pack(enc, tok.pad_token_id, row_tokens)
        assert int(batch["real_tokens"]) == sum(len(r.input_ids) for r in enc)
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        matched = 0
        for r in enc:  # find each example in the packed rows and compare its logits with a lone forward
            n = len(r.input_ids)
            alone = model(input_ids=torch.tensor([r.input_ids])).logits[0]
            hits = [
                (b, s)
                for b in range(batch["input_ids"].shape[0])
                for s in range(batch["input_ids"].shape[1] - n + 1)
                if batch["position_ids"][b, s] == 0 and batch["input_ids"][b, s : s + n].tolist() == r.input_ids
            ]
            assert hits, "every example sits in some row with positions starting at 0"
            b, s = hits[0]
            assert batch["position_ids"][b, s : s + n].tolist() == list(range(n))
            torch.testing.assert_close(logits[b, s : s + n], alone, atol=2e-5, rtol=1e-4)
            matched += 1
        assert matched == len(enc)
        if row_tokens:
            assert batch["input_ids"].shape[1] <= max(row_tokens, max(len(r.input_ids) for r in enc))
            assert batch["input_ids"].shape[0] > 1


def test_with_a_kv_cache_examples_would_attend_across_each_other():
    """Why micro_loss passes use_cache=False: transformers skips packed detection when a cache exists."""
    model, tok, _, enc = _setup()
    batch = pack(enc[:2], tok.pad_token_id, None)
    with torch.no_grad():
        cached = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=True).logits[0]
        clean = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
    first = max(len(r.input_ids) for r in enc[:2])
    assert not torch.allclose(cached[first:], clean[first:], atol=1e-3)  # the second example saw the first
    assert packing_matches_padding(model, enc, tok.pad_token_id, torch.device("cpu"))


@pytest.mark.parametrize("loss_on", ["completion", "all"])
def test_packed_loss_and_label_count_equal_padded(loss_on):
    model, tok, _, enc = _setup(loss_on=loss_on)
    padded = collate(enc, tok.pad_token_id)
    packed = pack(enc, tok.pad_token_id, 80)
    packed.pop("real_tokens")
    # no label at an example's first position: it would be predicted from the previous example
    starts = packed["position_ids"] == 0
    assert (packed["labels"][starts] == IGNORE).all()
    with torch.no_grad():
        loss_a, n_a = micro_loss(model, padded)
        loss_b, n_b = micro_loss(model, packed)
    assert n_a == n_b > 0
    assert abs(loss_a.item() - loss_b.item()) < 1e-4 * abs(loss_a.item())


def test_training_with_packing_follows_padded_training():
    model_a, tok, ids, enc = _setup()
    model_b, _, _, _ = _setup()
    cfg = dict(max_steps=6, batch_size=3, lr=1e-2, threads=1, max_length=96)
    a = train(
        model_a.train(), enc, tok.pad_token_id, TrainConfig(**cfg, packing=False), list(ids.values()), progress=False
    )
    b = train(
        model_b.train(), enc, tok.pad_token_id, TrainConfig(**cfg, packing=True), list(ids.values()), progress=False
    )
    np.testing.assert_allclose(a.losses, b.losses, rtol=2e-4)
    assert a.real_tokens == b.real_tokens
    assert b.padded_tokens < a.padded_tokens  # the point of packing: less padding computed
