"""generate() with the first-position processors and the score-then-force path give the
same token decision (and the same continuation) for the same settings."""

import numpy as np
import pytest
import torch

from refusal_lab.steering import policy

from refusal_lab.evaluation import scoring

from refusal_lab.steering import first_position
from refusal_lab.data.builtin import builtin_pools

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(model_and_tokenizer):
    model, tok = model_and_tokenizer
    pools = builtin_pools()
    prompts = [e.prompt for source in ("refusal", "contrast", "general") for e in pools[source][:5]]
    ids = [first_position.chat_ids(tok, [{"role": "user", "content": p}]) for p in prompts]
    assert len({len(x) for x in ids}) > 1  # different lengths: left padding is exercised
    tokens = policy.Policy(scheme="category").tokens
    token_ids = {t: tok.convert_tokens_to_ids(t) for t in tokens}
    logp = scoring.first_position_logprobs(model, ids, list(token_ids.values()), tok.pad_token_id)
    return model, tok, ids, tokens, token_ids, logp


def _bias_settings(logp, tokens):
    """Biases that put some prompts on each side: the median gap between [respond] and the top refusal token."""
    gap = float(np.median(logp[:, 0] - logp[:, 1:].max(axis=1)))
    top = tokens[1 + int(np.bincount(logp[:, 1:].argmax(axis=1)).argmax())]
    return [
        ({}, 1.0),
        ({"[respond]": -gap}, 1.0),
        ({top: gap}, 0.5),
        ({"[respond]": -gap / 2}, 2.0),
        ({top: -5.0}, 1.0),
    ]


def test_bias_processor_equals_score_then_force(setup):
    model, tok, ids, tokens, token_ids, logp = setup
    seen = set()
    for biases, temperature in _bias_settings(logp, tokens):
        pol = policy.from_dict(
            {"scheme": "category", "rule": "bias", "biases": biases or {"respond": 0.0}, "temperature": temperature}
        )
        forced = first_position.decide_and_generate(model, tok, ids, pol, token_ids, max_new_tokens=6)
        b = [pol.biases.get(t, 0.0) for t in tokens]
        generated = first_position.generate_with_processor(
            model,
            tok,
            ids,
            lambda n: first_position.FirstPositionBias(list(token_ids.values()), b, n, temperature),
            7,
            do_sample=False,
        )
        assert [g[0] for g in generated] == [token_ids[tokens[c]] for c in forced.chosen], (biases, temperature)
        # later positions untouched: the continuation is the plain greedy one after the same token
        visible = [tok.decode(g[1:], skip_special_tokens=True).strip() for g in generated]
        for v, text, fin in zip(visible, forced.texts, forced.finish):
            if fin == "length":
                assert v == text
            else:  # eos ended it: the processor path keeps padding after eos
                assert v.startswith(text)
        assert not any(t in text for text in forced.texts for t in tokens)
        seen.update(forced.chosen.tolist())
    assert len(seen) >= 2  # the settings really moved the decision


def test_policy_processor_equals_score_then_force_for_thresholds(setup):
    model, tok, ids, tokens, token_ids, logp = setup
    v = np.unique(np.exp(logp[:, 1:]).max(axis=1))
    mids = (
        v[1:] + v[:-1]
    ) / 2  # thresholds between prompts' scores: float noise between two forward passes cannot flip them
    for raw in (
        {"rule": "threshold", "threshold": float(mids[len(mids) // 2])},
        {"rule": "per_category", "thresholds": {tokens[1]: 0.0}, "threshold": float(mids[len(mids) * 2 // 3])},
        {"rule": "model_choice"},
    ):
        pol = policy.from_dict({"scheme": "category", **raw})
        forced = first_position.decide_and_generate(model, tok, ids, pol, token_ids, max_new_tokens=0)
        proc = {}

        def make(n):
            proc["p"] = first_position.FirstPositionPolicy(pol, list(token_ids.values()), n)
            return proc["p"]

        generated = first_position.generate_with_processor(model, tok, ids, make, 2, do_sample=False)
        assert [g[0] for g in generated] == [token_ids[tokens[c]] for c in forced.chosen], raw
        np.testing.assert_allclose(proc["p"].probs, forced.probs, rtol=1e-4, atol=1e-6)


def test_bias_processor_leaves_later_positions_alone():
    scores = torch.randn(2, 10)
    proc = first_position.FirstPositionBias([3, 7], [1.0, -1.0], prompt_len=5, temperature=2.0)
    first = proc(torch.zeros(2, 5, dtype=torch.long), scores.clone())
    assert torch.isinf(first[:, [0, 1, 2, 4, 5, 6, 8, 9]]).all()
    torch.testing.assert_close(first[:, 3], scores[:, 3] / 2 + 1.0)
    torch.testing.assert_close(first[:, 7], scores[:, 7] / 2 - 1.0)
    later = proc(torch.zeros(2, 6, dtype=torch.long), scores.clone())
    torch.testing.assert_close(later, scores)
