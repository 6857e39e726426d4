import numpy as np
import pytest
import torch

from refusal_lab.model.chat import encode_example, prompt_ids
from refusal_lab.config import TrainConfig
from refusal_lab.evaluation.scoring import first_position_probs, generate_forced
from refusal_lab.model.tokens import add_control_tokens, resize_and_init
from refusal_lab.training.loop import prepare_trainable, train
from refusal_lab.training.steps import plan_steps
from tests.helpers import examples, tiny


def setup(scheme="single", tied=False, **train_kw):
    torch.manual_seed(0)
    model, tok = tiny(tied=tied)
    ids = add_control_tokens(tok, scheme)
    resize_and_init(model, tok, ids, "description")
    cfg = TrainConfig(**{"max_steps": 30, "batch_size": 4, "lr": 1e-2, "warmup_ratio": 0.1, "threads": 1, **train_kw})
    enc = [encode_example(tok, e, scheme, "completion", 64, cfg.trainable == "control_tokens") for e in examples()]
    return model, tok, ids, cfg, enc


def test_training_changes_parameters_and_lowers_loss():
    model, tok, ids, cfg, enc = setup(packing=False)  # padded batches, so padding is there to count
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before), "every parameter tensor trains"
    assert result.steps == 30 and result.losses[-1] < 0.5 * result.losses[0]
    assert result.real_tokens < result.padded_tokens  # padding counted separately


@pytest.mark.parametrize("tied", [False, True])
def test_control_tokens_mode_moves_only_the_new_rows(tied):
    model, tok, ids, cfg, enc = setup(tied=tied, trainable="control_tokens")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trained = prepare_trainable(model, cfg, list(ids.values()))
    res = train(trained, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    new = set(ids.values())
    for n, p in model.named_parameters():
        if p.shape[0] == len(tok) and p.ndim == 2:  # embedding / head
            moved = set(torch.nonzero((p - before[n]).abs().sum(1)).flatten().tolist())
            # the loss sits at the control position, so the head rows (tied: the shared rows) learn;
            # an untied input row only feeds the next position, which carries no loss
            assert moved == new if (tied or "lm_head" in n) else moved <= new, n
        else:
            assert torch.equal(p, before[n]), n
    assert res.losses[-1] < res.losses[0]


def test_lora_trains_adapters_and_token_rows():
    model, tok, ids, cfg, enc = setup(trainable="lora", lr=5e-3, lora_r=4, lora_alpha=8)
    emb_before = model.get_input_embeddings().weight.detach().clone()
    trained = prepare_trainable(model, cfg, list(ids.values()))
    res = train(trained, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    merged = trained.merge_and_unload()
    emb = merged.get_input_embeddings().weight
    moved = torch.nonzero((emb - emb_before).abs().sum(1)).flatten().tolist()
    assert set(moved) == set(ids.values())
    assert res.losses[-1] < res.losses[0]


def test_new_rows_lr_scales_only_their_update():
    a_model, tok, ids, cfg, enc = setup(max_steps=1, new_rows_lr=1e-2)
    b_model, _, _, cfg_b, _ = setup(max_steps=1, new_rows_lr=5e-2)
    start = a_model.get_input_embeddings().weight.detach().clone()
    train(a_model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    train(b_model, enc, tok.pad_token_id, cfg_b, list(ids.values()), progress=False)
    rows = list(ids.values())
    da = a_model.get_input_embeddings().weight[rows] - start[rows]
    db = b_model.get_input_embeddings().weight[rows] - start[rows]
    assert torch.allclose(db, 5 * da, atol=1e-6)
    assert torch.equal(a_model.get_input_embeddings().weight[:10], b_model.get_input_embeddings().weight[:10])


def test_plan_steps_is_seeded_and_covers_epochs():
    cfg = TrainConfig(epochs=2, batch_size=3, grad_accum=2, seed=1)
    steps = plan_steps(10, cfg)
    assert (
        len(steps) == 4
        and steps == plan_steps(10, cfg)
        and steps != plan_steps(10, TrainConfig(epochs=2, batch_size=3, grad_accum=2, seed=2))
    )
    flat = [i for s in steps for mb in s for i in mb]
    assert sorted(flat[:10]) == list(range(10))


def test_scoring_equals_manual_softmax_at_first_response_position():
    model, tok, ids, _, _ = setup()
    prompts = [e.prompt for e in examples()] + ["a much longer prompt " * 5]
    token_ids = list(ids.values())
    probs = first_position_probs(model, tok, prompts, token_ids, batch_size=3, temperature=0.7)
    for i, p in enumerate(prompts):
        ids_p = torch.tensor([prompt_ids(tok, p)])
        assert tok.decode(ids_p[0]).endswith("<|im_start|>assistant\n")
        logits = model(input_ids=ids_p).logits[0, -1]
        manual = torch.softmax(logits / 0.7, dim=-1)[token_ids].detach().numpy()
        np.testing.assert_allclose(probs[i], manual, rtol=1e-4, atol=1e-7)


def test_forced_generation_starts_after_the_forced_token():
    model, tok, ids, cfg, enc = setup(max_steps=60)
    train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    out = generate_forced(model, tok, ["How do I build a pipe bomb?"] * 2, [ids["[refuse]"], ids["[respond]"]], 12)
    assert out[0].startswith("I'm sorry") and not out[1].startswith("I'm sorry")


def test_stop_and_resume_reproduces_the_uninterrupted_losses(tmp_path):
    from refusal_lab.training.steps import StopRequested

    model, tok, ids, cfg, enc = setup(max_steps=12)
    full = train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    model, tok, ids, cfg, enc = setup(max_steps=12)
    calls = iter(range(100))
    with pytest.raises(StopRequested):
        train(
            model,
            enc,
            tok.pad_token_id,
            cfg,
            list(ids.values()),
            progress=False,
            state_dir=tmp_path,
            checkpoint_every=4,
            should_stop=lambda: next(calls) >= 6,
        )
    assert (tmp_path / "train_state.pt").exists()
    model, tok, ids, cfg, enc = setup(max_steps=12)  # a fresh process rebuilds the same model, then loads the state
    resumed = train(
        model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False, state_dir=tmp_path, checkpoint_every=4
    )
    assert resumed.steps == 12 and len(resumed.losses) == 12
    np.testing.assert_allclose(resumed.losses, full.losses, rtol=1e-5)
    assert not (tmp_path / "train_state.pt").exists()


def test_control_tokens_never_reappear_in_the_continuation():
    model, tok, ids, _, _ = setup()
    with torch.no_grad():  # make [respond] the most likely token everywhere
        model.get_output_embeddings().weight[ids["[respond]"]] *= 0
        model.get_output_embeddings().bias = None
        model.get_output_embeddings().weight[ids["[respond]"]] += 50 * model.model.norm.weight.sign()
    ids_out = model.generate(
        input_ids=torch.tensor([prompt_ids(tok, "hi") + [ids["[respond]"]]]), max_new_tokens=3, do_sample=False
    )
    assert ids["[respond]"] in ids_out[0, -3:].tolist()  # the trap is real without suppression
    text = generate_forced(model, tok, ["hi"], [ids["[respond]"]], 3)[0]
    assert text != "" and "[respond]" not in text


def test_bf16_autocast_trains_with_fp32_master_weights():
    model, tok, ids, cfg, enc = setup(max_steps=20, autocast="bfloat16")
    res = train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert res.losses[-1] < 0.7 * res.losses[0]
