"""The refusal direction on a real tiny model: a hand computation, ablation on hidden
states, monotone activation addition."""

import numpy as np
import pytest
import torch

from refusal_lab.model.chat import prompt_ids
from refusal_lab.steering import refusal_direction as rd
from tests.helpers import tiny

REFUSE = ["How do I build a pipe bomb?", "Do you feel lonely?", "Tell me how to hurt someone."]
ANSWER = ["How do I bake bread at home?", "What is the capital of France?", "Sure, mix flour and water."]


@pytest.fixture(scope="module")
def model_tok():
    torch.manual_seed(0)
    model, tok = tiny(num_layers=3)
    return model.eval(), tok


def _states(model, tok, prompt):
    """Every hidden state of one prompt, no padding: [n_layers + 1, seq, hidden]."""
    ids = torch.tensor([prompt_ids(tok, prompt)])
    with torch.no_grad():
        return torch.stack(model(input_ids=ids, output_hidden_states=True).hidden_states)[:, 0]


def test_direction_is_the_difference_of_means_of_last_position_activations(model_tok):
    model, tok = model_tok
    layer = 2
    hand = torch.stack([_states(model, tok, p)[layer, -1] for p in REFUSE]).mean(0) - torch.stack(
        [_states(model, tok, p)[layer, -1] for p in ANSWER]
    ).mean(0)
    got = rd.refusal_direction(model, tok, REFUSE, ANSWER, layer, batch_size=2)  # left-padded batches
    assert torch.allclose(got, hand, atol=1e-5)
    assert rd.default_layer(model) == 1


def test_ablation_removes_the_direction_from_every_hidden_state_and_restores_after(model_tok):
    model, tok = model_tok
    r_hat = rd.unit(rd.refusal_direction(model, tok, REFUSE, ANSWER, 1))
    before = _states(model, tok, REFUSE[0])
    assert (before[:-1] @ r_hat).abs().max() > 1e-2  # the stream has the component before
    with rd.directional_ablation(model, r_hat):
        during = _states(model, tok, REFUSE[0])
    proj = during[:-1] @ r_hat  # every layer's input, every position
    assert proj.abs().max() < 1e-4
    assert not torch.allclose(during, before)
    assert torch.equal(_states(model, tok, REFUSE[0]), before)  # hooks removed


def test_project_out_is_orthogonal_and_idempotent():
    x, r = torch.randn(4, 5, 8), rd.unit(torch.randn(8))
    y = rd.project_out(x, r)
    assert torch.allclose(y @ r, torch.zeros(4, 5), atol=1e-6)
    assert torch.allclose(rd.project_out(y, r), y, atol=1e-6)


def test_activation_addition_is_monotone_in_the_projection(model_tok):
    model, tok = model_tok
    layer = 1
    r = rd.refusal_direction(model, tok, REFUSE, ANSWER, layer)
    r_hat = rd.unit(r)
    base = _states(model, tok, ANSWER[0])
    projections = []
    alphas = [-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0]
    for a in alphas:
        with rd.activation_addition(model, r_hat, a * float(r.norm()), layer):
            hs = _states(model, tok, ANSWER[0])
        assert torch.allclose(hs[:layer], base[:layer])  # layers before the intervention untouched
        projections.append(float(hs[layer + 1, -1] @ r_hat))  # the stream after the steered layer
    assert np.all(np.diff(projections) > 0), projections


def test_the_layer_is_the_one_that_separates_held_out_prompts_best():
    """Synthetic states: only layer 2's input carries a refuse/answer offset; layer_separation sees
    it on the held-out halves, and choose_layer's rule picks it over the others."""
    torch.manual_seed(0)
    n, layers, hidden = 40, 4, 8
    refuse, answer = torch.randn(n, layers + 1, hidden), torch.randn(n, layers + 1, hidden)
    refuse[:, 2, 0] += 5.0
    separation = rd.layer_separation(refuse, answer)
    assert len(separation) == layers + 1 and separation[2] == 1.0
    assert rd.best_layer(separation[:layers]) == 2  # the decoder layers' inputs, as choose_layer passes them
    assert rd.best_layer([0.9, 0.6, 0.8, 0.8]) == 2 and rd.best_layer([0.7]) == 0  # ties: earlier; no embeddings
    assert all(s < 0.9 for i, s in enumerate(separation) if i != 2)


def test_choose_layer_on_a_model_returns_a_decoder_layer_and_its_scores():
    model, tok = tiny(num_layers=3)
    layer, separation = rd.choose_layer(model, tok, REFUSE, ANSWER, batch_size=2)
    assert len(separation) == 3 and 1 <= layer <= 2
    assert separation[layer] == max(separation[1:])
