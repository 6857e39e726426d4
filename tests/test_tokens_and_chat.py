import pytest
import torch

from refusal_lab.model.chat import IGNORE, encode_example, prompt_ids
from refusal_lab.definitions import REFUSE_TOKEN, RESPOND_TOKEN, control_tokens
from refusal_lab.model.tokens import add_control_tokens, assistant_text, resize_and_init
from tests.helpers import examples, tiny


@pytest.mark.parametrize("scheme", ["none", "single", "category"])
def test_exactly_one_control_token_first_in_every_assistant_turn(scheme):
    model, tok = tiny()
    ids = add_control_tokens(tok, scheme)
    all_control = set(ids.values())
    for ex in examples():
        enc = encode_example(tok, ex, scheme, "completion", 256)
        assistant = enc.input_ids[enc.prompt_len :]
        found = [i for i in enc.input_ids if i in all_control]
        if scheme == "none":
            assert found == []
            continue
        assert found == [assistant[0]], "one control token, first in the assistant turn"
        expected = (
            RESPOND_TOKEN if not ex.should_refuse else (REFUSE_TOKEN if scheme == "single" else f"[{ex.category}]")
        )
        assert tok.convert_ids_to_tokens(assistant[0]) == expected
        assert assistant_text(ex, scheme).startswith(expected)


def test_prompt_with_generation_prompt_is_prefix_and_labels_mask_it():
    _, tok = tiny()
    add_control_tokens(tok, "single")
    ex = examples()[1]
    enc = encode_example(tok, ex, "single", "completion", 256)
    prefix = prompt_ids(tok, ex.prompt)
    assert enc.input_ids[: len(prefix)] == prefix and enc.prompt_len == len(prefix)
    assert enc.labels[: len(prefix)] == [IGNORE] * len(prefix)
    assert enc.labels[len(prefix) :] == enc.input_ids[len(prefix) :]
    everything = encode_example(tok, ex, "single", "all", 256)
    assert everything.labels == everything.input_ids
    control = encode_example(tok, ex, "single", "completion", 256, control_only=True)
    assert [i for i, l in enumerate(control.labels) if l != IGNORE] == [len(prefix)]


def test_too_long_prompt_is_skipped_and_response_truncated():
    _, tok = tiny()
    add_control_tokens(tok, "single")
    ex = examples()[0]
    n = len(prompt_ids(tok, ex.prompt))
    assert encode_example(tok, ex, "single", "completion", n) is None
    assert len(encode_example(tok, ex, "single", "completion", n + 2).input_ids) == n + 2


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("init", ["mean", "description"])
def test_new_rows_initialised_deliberately(tied, init):
    model, tok = tiny(tied=tied)
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    ids = add_control_tokens(tok, "category")
    resize_and_init(model, tok, ids, init)
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == len(tok) == head.shape[0] == model.config.vocab_size
    assert (emb.data_ptr() == head.data_ptr()) == tied
    assert torch.equal(emb[: old_in.shape[0]], old_in), "existing rows untouched"
    for name, idx in ids.items():
        if init == "mean":
            assert torch.allclose(emb[idx], old_in.mean(0), atol=1e-6)
            if not tied:
                assert torch.allclose(head[idx], old_out.mean(0), atol=1e-6)
        else:
            from refusal_lab.model.tokens import DEFAULT_DESCRIPTIONS

            desc = tok.encode(DEFAULT_DESCRIPTIONS[name], add_special_tokens=False)
            assert torch.allclose(emb[idx], old_in[desc].mean(0), atol=1e-6)
            if not tied:
                assert torch.allclose(head[idx], old_out[desc].mean(0), atol=1e-6)
    if init == "description":  # different descriptions give different starting rows
        rows = torch.stack([emb[i] for i in ids.values()])
        assert torch.cdist(rows, rows).fill_diagonal_(1).min() > 0


def test_padded_embedding_is_not_shrunk_and_new_rows_inside_it_are_set():
    model, tok = tiny()
    model.resize_token_embeddings(len(tok) + 8, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[len(tok) :] = 1e3  # garbage padding rows
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, "mean")
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(tok) + 6
    assert all(emb[i].abs().max() < 10 for i in ids.values())


def test_control_tokens_are_single_special_ids():
    _, tok = tiny()
    ids = add_control_tokens(tok, "category")
    assert list(ids) == control_tokens("category")
    text = "x" + "".join(ids) + "y"
    enc = tok.encode(text, add_special_tokens=False)
    assert [i for i in enc if i in ids.values()] == list(ids.values())
